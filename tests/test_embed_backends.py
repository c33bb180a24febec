"""The embedder's backends (PyTorch, ONNX Runtime) on the real weights and real aligned LFW faces.

The backends must be interchangeable: a run's verification scores may not depend on which one
computed the embeddings, so each path is checked against PyTorch eager on the same faces.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch

from bench.assets import resolve
from bench.assets.derived import is_onnx_model
from bench.models import Embedder, create_embedder, onnx_export
from bench.runtime import Runtime

FLOAT = "edgeface_xs_gamma_06"
N_FACES = 8


@pytest.fixture(scope="module", autouse=True)
def _onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Exported graphs go to a temporary folder: tests neither read nor fill ``checkpoints/``."""
    cache = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(onnx_export, "cache_root", lambda: cache)
        yield cache


@pytest.fixture(scope="module")
def faces() -> np.ndarray:
    """The first image of the first ``N_FACES`` people of the reference-aligned LFW set."""
    people = sorted(path for path in resolve("lfw_aligned_112").iterdir() if path.is_dir())[:N_FACES]
    images = []
    for person in people:
        image = cv2.imread(str(min(person.glob("*.jpg"))), cv2.IMREAD_COLOR)
        assert image is not None and image.shape == (112, 112, 3), person
        images.append(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    return np.stack(images)


@pytest.fixture(scope="module")
def embedders() -> dict[str, Embedder]:
    return {
        "ort": create_embedder({"name": FLOAT}),
        "ort_flip": create_embedder(
            {"name": FLOAT, "flip": True}, Runtime.local(threads=1), backend="onnxruntime"
        ),
        "torch": create_embedder({"name": FLOAT}, backend="torch"),
        "torch_flip": create_embedder({"name": FLOAT, "flip": True}, backend="torch"),
    }


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1)  # rows are unit vectors


@pytest.mark.parametrize("flip", [False, True], ids=["plain", "flip"])
def test_onnxruntime_matches_torch(flip: bool, embedders: dict[str, Embedder], faces: np.ndarray) -> None:
    suffix = "_flip" if flip else ""
    ort, eager = embedders[f"ort{suffix}"], embedders[f"torch{suffix}"]
    assert (ort.backend, eager.backend) == ("onnxruntime", "torch")
    cosines = _cosines(ort.embed(faces), eager.embed(faces))
    assert cosines.min() > 0.9999, cosines


def test_flip_changes_the_embedding(embedders: dict[str, Embedder], faces: np.ndarray) -> None:
    plain, flipped = embedders["ort"].embed(faces), embedders["ort_flip"].embed(faces)
    assert np.abs(plain - flipped).max() > 1e-3


def test_auto_picks_onnxruntime_for_float_cpu_fp32_and_torch_for_int8(embedders: dict[str, Embedder]) -> None:
    assert embedders["ort"].backend == "onnxruntime"
    assert create_embedder({"name": "edgeface_xs_q"}).backend == "torch"


def test_auto_picks_torch_for_torch_only_settings() -> None:
    assert create_embedder({"name": FLOAT}, precision="bf16").backend == "torch"
    assert create_embedder({"name": FLOAT}, channels_last=True).backend == "torch"


@pytest.mark.parametrize(
    ("cfg", "options", "match"),
    [
        ({"name": "edgeface_xs_q"}, {}, r"int8.*backend=torch.*edgeface_xs_gamma_06"),
        ({"name": FLOAT}, {"precision": "bf16"}, r"fp32 graph.*backend=torch"),
        ({"name": FLOAT}, {"channels_last": True}, r"torch backend"),
    ],
)
def test_onnxruntime_refuses_what_it_cannot_run(
    cfg: dict[str, Any], options: dict[str, Any], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        create_embedder(cfg, backend="onnxruntime", **options)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"backend": "tensorrt"}, "'tensorrt' is not a valid EmbedBackend"),
        ({"pin_memory": True}, "needs a CUDA device"),
    ],
)
def test_bad_backend_options_are_refused(options: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        create_embedder({"name": FLOAT}, **options)


def test_export_is_cached(
    embedders: dict[str, Embedder], _onnx_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exported = Path(embedders["ort"].describe()["model_onnx"])
    assert exported.parent == _onnx_cache / "onnx" and exported.suffix == ".onnx"
    assert list(exported.parent.iterdir()) == [exported]  # one graph for both ORT fixtures, no temp file
    mtime = exported.stat().st_mtime_ns

    def no_export(*args: object, **kwargs: object) -> None:
        raise AssertionError("the cached graph should have been reused")

    monkeypatch.setattr(torch.onnx, "export", no_export)
    assert Path(create_embedder({"name": FLOAT}).describe()["model_onnx"]) == exported
    assert exported.stat().st_mtime_ns == mtime


def test_a_truncated_export_is_made_again(
    embedders: dict[str, Embedder], faces: np.ndarray, _onnx_cache: Path
) -> None:
    exported = Path(embedders["ort"].describe()["model_onnx"])
    exported.write_bytes(exported.read_bytes()[: exported.stat().st_size // 2])  # a half-written disk copy
    again = create_embedder({"name": FLOAT})
    assert Path(again.describe()["model_onnx"]) == exported
    assert is_onnx_model(exported)
    np.testing.assert_allclose(again.embed(faces), embedders["ort"].embed(faces), atol=1e-6)


def test_export_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The graph is written under another name in the same folder and moved into place; a
    failed export leaves nothing behind. (A one-layer model keeps this fast.)"""
    monkeypatch.setattr(onnx_export, "cache_root", lambda: tmp_path)
    weights = tmp_path / "tiny.pt"
    weights.write_bytes(b"stands in for a weights file: only its hash is used")
    model = torch.nn.Conv2d(3, 4, kernel_size=3)
    real_export = torch.onnx.export
    written: list[Path] = []

    def spy(model: torch.nn.Module, args: Any, f: str, **kwargs: Any) -> None:
        written.append(Path(f))
        assert not list((tmp_path / "onnx").glob("*.onnx")), "the final name must appear only when complete"
        real_export(model, args, f, **kwargs)

    monkeypatch.setattr(torch.onnx, "export", spy)
    final = onnx_export.export_onnx(model, weights, "tiny", None)
    assert len(written) == 1 and written[0].parent == final.parent and written[0] != final
    assert list(final.parent.iterdir()) == [final] and final.stat().st_size > 0
    assert final.stat().st_mode & 0o777 == 0o644  # readable by other users of a shared cache

    final.unlink()

    def broken(model: torch.nn.Module, args: Any, f: str, **kwargs: Any) -> None:
        Path(f).write_bytes(b"half a graph")
        raise RuntimeError("export failed")

    monkeypatch.setattr(torch.onnx, "export", broken)
    with pytest.raises(RuntimeError, match="export failed"):
        onnx_export.export_onnx(model, weights, "tiny", None)
    assert list(final.parent.iterdir()) == []


def test_onnxruntime_embeddings_do_not_depend_on_the_batch(
    embedders: dict[str, Embedder], faces: np.ndarray
) -> None:
    embedder = embedders["ort"]
    batched = embedder.embed(faces)
    single = np.concatenate([embedder.embed(faces[i : i + 1]) for i in range(len(faces))])
    np.testing.assert_allclose(batched, single, atol=1e-5)


@pytest.mark.parametrize("name", ["ort", "torch_flip"])
def test_tensor_input_equals_numpy_input(
    name: str, embedders: dict[str, Embedder], faces: np.ndarray
) -> None:
    embedder = embedders[name]
    np.testing.assert_array_equal(embedder.embed(torch.from_numpy(faces)), embedder.embed(faces))


def test_bad_tensor_input_is_refused(embedders: dict[str, Embedder]) -> None:
    embedder = embedders["ort"]
    with pytest.raises(ValueError, match="uint8"):
        embedder.embed(torch.zeros((1, 112, 112, 3)))
    with pytest.raises(ValueError, match="shape"):
        embedder.embed(torch.zeros((1, 3, 112, 112), dtype=torch.uint8))


def test_channels_last_matches_default_layout(embedders: dict[str, Embedder], faces: np.ndarray) -> None:
    channels_last = create_embedder({"name": FLOAT}, backend="torch", channels_last=True)
    assert channels_last.describe()["model_channels_last"] == "true"
    cosines = _cosines(channels_last.embed(faces), embedders["torch"].embed(faces))
    assert cosines.min() > 0.9999, cosines


def test_describe_records_the_backend(embedders: dict[str, Embedder], _onnx_cache: Path) -> None:
    ort, eager = embedders["ort"].describe(), embedders["torch"].describe()
    assert ort["model_backend"] == "onnxruntime"
    assert ort["model_onnx_provider"] == "CPUExecutionProvider"
    assert Path(ort["model_onnx"]).parent == _onnx_cache / "onnx"
    assert ort["model_channels_last"] == "false"
    assert eager["model_backend"] == "torch"
    assert eager["model_onnx"] == eager["model_onnx_provider"] == "none"
    assert eager["model_channels_last"] == "false"
    for info in (ort, eager):
        assert {"model", "model_params", "model_device", "model_precision", "model_weights"} <= set(info)
        assert info["model_params"] == "1770492" and info["model_pin_memory"] == "false"


def test_onnxruntime_threads_reach_the_session(embedders: dict[str, Embedder]) -> None:
    session = embedders["ort_flip"].forward.session.session  # built with threads=1
    assert session.get_session_options().intra_op_num_threads == 1
