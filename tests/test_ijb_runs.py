"""IJB-B/C through the benchmark: the miniature (LFW in the release's format, landmarks from
YuNet) run with the given landmarks and with a detector, from the CLI into MLflow, with an
exported ONNX model, and through the feature cache."""

from __future__ import annotations

import os
from pathlib import Path

import mlflow
import numpy as np
import pytest

from bench.config import ConfigValueError, ModelConfig
from bench.export import export_model
from bench.metrics import keys
from bench.pipeline import BenchmarkResult
from tests.cli import run_bench
from tests.conftest import bench_config, run_benchmark
from tests.ijb_miniature import yunet_miniature


@pytest.fixture(scope="module")
def miniature(tmp_path_factory: pytest.TempPathFactory, lfw_root: Path) -> Path:
    root = tmp_path_factory.mktemp("IJBC")
    yunet_miniature(root, lfw_root)
    return root


@pytest.fixture()
def given(miniature: Path) -> BenchmarkResult:
    """Function-scoped, so that it runs in each test's own cache and store (conftest)."""
    return run_benchmark("dataset=ijbc", f"dataset.root={miniature}", "detector=given", "model.flip=true")


def test_the_given_landmarks_verify_and_identify(given: BenchmarkResult) -> None:
    metrics = given.metrics
    assert given.templates is not None and given.verification is None
    assert metrics[keys.NUM_IMAGES] == 42 and metrics[keys.SUCCESS_RATE] == 1.0
    assert metrics[keys.NUM_PAIRS_SCORED] == metrics[keys.NUM_PAIRS_TOTAL] == 6 * 18
    assert metrics[keys.NUM_TEMPLATES] == 6 + 18
    assert metrics[keys.AUC] > 0.99
    # 12 genuine and 96 impostor pairs: FARs below 1/96 cannot be measured.
    assert np.isnan(metrics[keys.tar_at_far(1e-3)]) and metrics[keys.tar_at_far(1e-1)] > 0.8
    assert metrics[keys.cmc_at_rank(1)] == 1.0  # every mated probe finds its gallery template
    assert keys.tpir_at_fpir(1e-1) in metrics
    assert given.runtime["detector_source"] == "given"
    assert given.runtime["detector_device"] == "none"  # no detector runs with given


def test_a_detector_on_the_loose_crops_matches_the_landmarks_it_gave(
    miniature: Path, given: BenchmarkResult
) -> None:
    """The miniature's landmarks and scores are YuNet's on the same crops: running YuNet must
    give the same faces, weights, scores and figures."""
    detected = run_benchmark("dataset=ijbc", f"dataset.root={miniature}", "detector=yunet", "model.flip=true")
    assert given.templates is not None and detected.templates is not None
    np.testing.assert_allclose(detected.scores, given.scores, atol=1e-5)
    assert detected.metrics[keys.AUC] == pytest.approx(given.metrics[keys.AUC])


def test_weighting_by_detector_score_changes_the_templates_not_the_embeddings(miniature: Path) -> None:
    overrides = ("dataset=ijbc", f"dataset.root={miniature}", "detector=given", "model.flip=true")
    weighted = run_benchmark(*overrides)
    unweighted = run_benchmark(*overrides, "dataset.detector_score_weighting=false")
    assert unweighted.metrics[keys.NUM_IMAGES_CACHED] == 42
    assert not np.allclose(unweighted.scores, weighted.scores)


def test_an_edited_landmarks_file_misses_the_cache(miniature: Path, tmp_path: Path) -> None:
    copy = tmp_path / "IJBC"
    (copy / "meta").mkdir(parents=True)
    os.symlink(miniature / "loose_crop", copy / "loose_crop")
    for meta in (miniature / "meta").iterdir():
        text = meta.read_text()
        if meta.name == "ijbc_name_5pts_score.txt":  # move the first crop's points by 2 px
            first, rest = text.split("\n", 1)
            fields = first.split()
            fields[1:11] = [f"{float(value) + 2:.3f}" for value in fields[1:11]]
            text = " ".join(fields) + "\n" + rest
        (copy / "meta" / meta.name).write_text(text)
    overrides = ("dataset=ijbc", "detector=given", "model.flip=true")
    run_benchmark(*overrides, f"dataset.root={miniature}")
    moved = run_benchmark(*overrides, f"dataset.root={copy}")
    assert moved.metrics[keys.NUM_IMAGES_CACHED] == 41


def test_the_exported_model_runs_on_the_miniature(
    miniature: Path, given: BenchmarkResult, tmp_path: Path
) -> None:
    graph = export_model(ModelConfig(name="edgeface_xs_gamma_06"), tmp_path / "xs.onnx")
    exported = run_benchmark(
        "dataset=ijbc", f"dataset.root={miniature}", "detector=given", "model.flip=true", "model=onnx",
        f"model.path={graph}",
    )  # fmt: skip
    assert exported.runtime["model_backend"] == "onnxruntime"
    np.testing.assert_allclose(exported.scores, given.scores, atol=1e-5)


def test_a_cli_sweep_logs_each_runs_tables_and_compares_them(miniature: Path) -> None:
    uri = os.environ["MLFLOW_TRACKING_URI"]
    finished = run_bench(
        "dataset=ijbc", f"dataset.root={miniature}", "detector=given,yunet", "-m", env=dict(os.environ)
    )
    assert finished.returncode == 0, finished.stderr[-3000:] + finished.stdout[-3000:]
    assert "TAR @ FAR 1e-1" in finished.stdout
    client = mlflow.MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("face-alignment").experiment_id])
    children = [run for run in runs if "mlflow.parentRunId" in run.data.tags]
    (parent,) = [run for run in runs if "mlflow.parentRunId" not in run.data.tags]
    assert sorted(run.data.tags["detector"] for run in children) == ["given", "yunet"]
    for run in children:
        assert run.info.status == "FINISHED" and run.data.tags["dataset"] == "ijbc"
        assert (
            keys.tar_insightface_at_far(1e-1) in run.data.metrics and keys.cmc_at_rank(1) in run.data.metrics
        )
        logged = {item.path for item in client.list_artifacts(run.info.run_id)}
        assert {"ijb_report.md", "ijb_tar_at_far.csv", "template_scores.npz", "roc.png"} <= logged
    report = Path(client.download_artifacts(children[0].info.run_id, "ijb_report.md")).read_text()
    assert "## 1:1 verification" in report and "## 1:N identification" in report
    assert parent.info.status == "FINISHED"
    assert {"comparison.md", "comparison.csv", "roc_overlay.png"} <= {
        item.path for item in client.list_artifacts(parent.info.run_id)
    }
    comparison = Path(client.download_artifacts(parent.info.run_id, "comparison.md")).read_text()
    assert "ranked by TAR at FAR 1e-1" in comparison and "| given |" in comparison


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (("detector=given",), "only IJB's \\(dataset=ijbc or ijbb\\) carry them"),
        (("dataset=ijbc", "dataset.root=/x", "dataset.folds=[0]"), "dataset.folds must be null"),
        (
            ("dataset=ijbc", "dataset.root=/x", "stress=jpeg_compression", "stress.sides=one"),
            "must be both on IJB",
        ),
    ],
)
def test_what_ijb_cannot_do_is_refused_at_composition(overrides: tuple[str, ...], message: str) -> None:
    with pytest.raises(ConfigValueError, match=message):
        bench_config(*overrides)


def test_geometric_stress_does_not_apply_to_given_landmarks() -> None:
    config = bench_config("dataset=ijbc", "dataset.root=/x", "detector=given", "stress=rotation")
    assert "moves the face away from the landmarks" in (config.not_applicable or "")


def test_a_missing_root_is_named() -> None:
    from bench.data import load_dataset

    with pytest.raises(FileNotFoundError, match=r"dataset\.root: /no/such is not a folder"):
        load_dataset(bench_config("dataset=ijbc", "dataset.root=/no/such").dataset)
