"""The runner with the feature cache: re-runs, model sweeps and interrupted runs reuse work."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper

from bench.assets import AssetNotFoundError, resolve
from bench.assets import derived as derived_files
from bench.detectors import bind_options, detector_entry
from bench.models import onnx_export
from bench.pipeline import BenchmarkResult

from .conftest import run_benchmark

ONE_FOLD = ["dataset.folds=[0]", "dataset.pairs_per_fold=40"]


def run(overrides: list[str]) -> BenchmarkResult:
    return run_benchmark(*overrides)


@pytest.fixture()
def cache_dir(tmp_path: Path) -> list[str]:
    return [f"cache.dir={tmp_path / 'cache'}"]


def faces(result: BenchmarkResult) -> list[Any]:
    return [None if record.face is None else record.face.box.tolist() for record in result.records]


def test_a_rerun_computes_nothing_and_scores_the_same(cache_dir: list[str]) -> None:
    cold = run([*ONE_FOLD, *cache_dir])
    warm = run([*ONE_FOLD, *cache_dir])
    assert cold.metrics["num_images_computed"] == cold.metrics["num_images"] > 0
    assert warm.metrics["num_images_computed"] == 0
    assert warm.metrics["num_images_cached"] == cold.metrics["num_images"]
    np.testing.assert_array_equal(warm.scores, cold.scores)
    assert warm.metrics["accuracy"] == cold.metrics["accuracy"]
    assert faces(warm) == faces(cold)
    # Nothing was left to compute, so neither model was loaded; the run record says so.
    assert warm.runtime["detector_loaded"].startswith("false")
    assert warm.runtime["model_loaded"].startswith("false")
    assert warm.samples  # the sample grid is rebuilt from the cached faces


def test_a_model_sweep_reuses_the_detections(cache_dir: list[str]) -> None:
    first = run([*ONE_FOLD, *cache_dir])
    second = run([*ONE_FOLD, *cache_dir, "model=edgeface_xxs_q"])
    assert second.runtime["detector_loaded"].startswith("false")
    assert second.runtime["model"] == "edgeface_xxs_q" and "model_backend" in second.runtime
    assert second.metrics["num_images_computed"] == second.metrics["num_images"]
    assert faces(second) == faces(first)
    assert not np.allclose(second.scores, first.scores)  # a different model did run


def test_an_interrupted_run_resumes_with_only_the_missing_images(cache_dir: list[str]) -> None:
    # The smaller run stands for a run stopped part way: its batches are in the cache.
    partial = run(["dataset.folds=[0]", "dataset.pairs_per_fold=10", *cache_dir])
    whole = run([*ONE_FOLD, *cache_dir])
    done = set(partial.dataset.images)
    assert whole.metrics["num_images_computed"] == len(set(whole.dataset.images) - done)
    assert whole.metrics["num_images_cached"] == len(done)
    fresh = run([*ONE_FOLD, "cache=off"])
    np.testing.assert_array_equal(whole.scores, fresh.scores)


def test_cache_off_writes_nothing() -> None:
    default_dir = Path(os.environ["BENCH_CACHE_DIR"])  # where cache=disk would write
    result = run([*ONE_FOLD, "cache=off"])
    assert result.runtime["cache"] == "off"
    assert result.metrics["num_images_computed"] == result.metrics["num_images"]
    assert not any(default_dir.iterdir())


def test_the_naive_pipeline_gives_the_same_scores() -> None:
    fast = run([*ONE_FOLD, "cache=off"])
    naive = run([*ONE_FOLD, "pipeline=naive"])
    assert naive.runtime["pipeline"] == "naive" and naive.runtime["cache"] == "off"
    assert faces(naive) == faces(fast)
    np.testing.assert_allclose(naive.scores, fast.scores, atol=1e-5)


# -- the weights files are part of the key ---------------------------------------------------------


@pytest.fixture()
def derived_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Graphs made from the altered weights go to a temporary folder, not ``checkpoints/``."""
    monkeypatch.setattr(onnx_export, "cache_root", lambda: tmp_path / "checkpoints")
    monkeypatch.setattr(derived_files, "cache_root", lambda: tmp_path / "checkpoints")


def copy_asset(name: str, destination: Path) -> Path:
    return Path(shutil.copy(resolve(name), destination))


def perturb_edgeface(path: Path) -> None:
    """Overwrite ``path`` with the same network, one convolution's weights halved."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    key = next(name for name, tensor in state.items() if tensor.ndim == 4)
    state[key] = state[key] * 0.5
    torch.save(state, path)


def perturb_yunet(path: Path) -> None:
    """Overwrite ``path`` with the same graph, its first convolution's weights scaled."""
    model = onnx.load(str(path))
    first = next(item for item in model.graph.initializer if len(item.dims) == 4)
    first.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(first) * np.float32(0.8), first.name))
    onnx.save(model, str(path))


def test_each_detector_names_the_weights_it_loads_without_loading_them(tmp_path: Path) -> None:
    def weights(name: str, **options: Any) -> list[Path]:
        return detector_entry(name).weights(bind_options(name, **options))

    mtcnn = Path(resolve("mtcnn_pnet")).parent
    stand_in = tmp_path / "stand_in.bin"  # never loaded, so any file will do
    stand_in.touch()
    assert weights("center_crop") == weights("none") == weights("given") == []
    assert weights("mtcnn", path=str(mtcnn)) == [mtcnn / "pnet.pt", mtcnn / "rnet.pt", mtcnn / "onet.pt"]
    assert weights("mediapipe_mesh", box_detector_options={"path": str(stand_in)}) == [
        resolve("mediapipe_face_landmark"),
        stand_in,
    ]
    # The BlazeFace model option picks the file (and the mesh's nested BlazeFace follows it).
    assert weights("mediapipe_detection", model="full_range") == [
        resolve("mediapipe_face_detection_full_range")
    ]
    assert weights("mediapipe_mesh", box_detector_options={"model": "full_range"})[1:] == [
        resolve("mediapipe_face_detection_full_range")
    ]
    assert weights("rtmpose", path=str(stand_in), box_detector="retinaface") == [
        stand_in,
        resolve("retinaface"),
    ]


@pytest.mark.usefixtures("derived_in_tmp")
def test_overwritten_model_weights_are_recomputed(cache_dir: list[str], tmp_path: Path) -> None:
    weights = copy_asset("edgeface_xs_gamma_06", tmp_path / "edgeface.pt")
    overrides = [*ONE_FOLD, f"model.path={weights}"]
    first = run([*overrides, *cache_dir])
    perturb_edgeface(weights)
    second = run([*overrides, *cache_dir])
    assert second.runtime["detector_loaded"].startswith("false")  # the detections still hold
    assert second.metrics["num_images_computed"] == second.metrics["num_images"]
    assert not np.allclose(second.scores, first.scores)
    np.testing.assert_array_equal(second.scores, run([*overrides, "cache=off"]).scores)


@pytest.mark.usefixtures("derived_in_tmp")
def test_overwritten_detector_weights_are_recomputed(cache_dir: list[str], tmp_path: Path) -> None:
    weights = copy_asset("yunet", tmp_path / "yunet.onnx")
    overrides = [*ONE_FOLD, f"detector.options.path={weights}"]
    first = run([*overrides, *cache_dir])
    perturb_yunet(weights)
    second = run([*overrides, *cache_dir])
    assert second.metrics["num_images_computed"] == second.metrics["num_images"]
    assert faces(second) != faces(first)
    fresh = run([*overrides, "cache=off"])
    assert faces(second) == faces(fresh)
    np.testing.assert_array_equal(second.scores, fresh.scores)


def test_moved_identical_weights_still_hit_the_cache(cache_dir: list[str], tmp_path: Path) -> None:
    run([*ONE_FOLD, *cache_dir])  # the weights the resolver finds by name
    model = copy_asset("edgeface_xs_gamma_06", tmp_path / "copy.pt").rename(tmp_path / "renamed.pt")
    detector = copy_asset("yunet", tmp_path / "copy.onnx").rename(tmp_path / "renamed.onnx")
    warm = run([*ONE_FOLD, *cache_dir, f"model.path={model}", f"detector.options.path={detector}"])
    assert warm.metrics["num_images_computed"] == 0


def test_a_warm_run_fails_when_the_configured_weights_are_gone(cache_dir: list[str], tmp_path: Path) -> None:
    weights = copy_asset("edgeface_xs_gamma_06", tmp_path / "edgeface.pt")
    overrides = [*ONE_FOLD, *cache_dir, f"model.path={weights}"]
    run(overrides)
    weights.unlink()
    # Every result is cached, but nothing could tell whether they came from these weights.
    with pytest.raises(AssetNotFoundError, match=str(weights)):
        run(overrides)
