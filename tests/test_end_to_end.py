"""`python -m bench` as a user runs it: real models, real LFW, a real MLflow store."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from .cli import run_bench
from .cli import store as store
from .mlflow_server import free_port

ARTIFACTS = {
    "config.yaml",
    "pair_scores.csv",
    "failures.csv",
    "roc.png",
    "aligned_faces.png",
    "aligned_faces.npz",
    "memory_trace.csv",
    "metrics.json",
}


def runs(uri: str) -> list:
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("face-alignment")
    assert experiment is not None
    return client.search_runs([experiment.experiment_id])


def artifact_names(uri: str, run_id: str) -> set[str]:
    return {info.path for info in MlflowClient(uri).list_artifacts(run_id)}


def test_one_fold_end_to_end(store: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    uri, env = store
    completed = run_bench("dataset.folds=[0]", f"hydra.run.dir={tmp_path / 'run'}", env=env)
    assert completed.returncode == 0, completed.stderr
    assert "10-fold accuracy" in completed.stdout  # the summary table
    (run,) = runs(uri)
    assert run.info.status == "FINISHED"
    metrics = run.data.metrics
    assert metrics["num_pairs_scored"] == 600
    assert metrics["accuracy"] >= 0.97 and metrics["success_rate"] >= 0.99
    for key in (
        "accuracy_std",
        "accuracy_detected",
        "auc",
        "eer",
        "tar_at_far_1e-3",
        "images_per_s",
        "peak_rss_mb",
    ):
        assert key in metrics
    assert run.data.params["detector.name"] == "yunet"
    assert run.data.params["runtime.detector_device"] == "cpu"
    assert artifact_names(uri, run.info.run_id) >= ARTIFACTS
    assert len(MlflowClient(uri).get_metric_history(run.info.run_id, "rss_mb")) >= 2


def test_two_job_multirun(store: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    uri, env = store
    completed = run_bench(
        "detector=yunet,mtcnn",
        "dataset.folds=[0]",
        "dataset.pairs_per_fold=40",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        "-m",
        env=env,
    )
    assert completed.returncode == 0, completed.stderr
    finished = [run for run in runs(uri) if "mlflow.parentRunId" in run.data.tags]  # the sweep's children
    assert sorted(run.data.params["detector.name"] for run in finished) == ["mtcnn", "yunet"]
    for run in finished:
        assert run.info.status == "FINISHED"
        assert run.data.metrics["num_pairs_scored"] == 40
        assert artifact_names(uri, run.info.run_id) >= ARTIFACTS
    assert len(list((tmp_path / "sweep").iterdir())) >= 2  # one Hydra job dir each


def test_a_crash_ends_the_run_failed(store: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    uri, env = store
    completed = run_bench(
        "model=edgeface_base", f"hydra.run.dir={tmp_path / 'run'}", env={**env, "BENCH_OFFLINE": "1"}
    )
    assert completed.returncode != 0
    assert "edgeface_base.pt" in completed.stderr and "github.com/otroshi/edgeface" in completed.stderr
    (run,) = runs(uri)
    assert run.info.status == "FAILED"


@pytest.mark.parametrize("sweep", [False, True], ids=["run", "sweep"])
def test_no_tracking_server_fails_at_once_naming_it(tmp_path: Path, sweep: bool) -> None:
    # MLflow's client alone would retry the dead address for about four minutes; the check
    # before the run opens fails at once (a refused connection), which its message shows. No
    # wall-clock bound: the subprocess timeout catches a run that waits.
    uri = f"http://127.0.0.1:{free_port()}"
    env = {key: value for key, value in os.environ.items() if key != "MLFLOW_TRACKING_URI"}
    dirs = [f"hydra.sweep.dir={tmp_path / 'sweep'}", "-m"] if sweep else [f"hydra.run.dir={tmp_path / 'run'}"]
    detectors = "detector=yunet,center_crop" if sweep else "detector=yunet"
    completed = run_bench(f"tracking.uri={uri}", detectors, "dataset.folds=[0]", *dirs, env=env, timeout=180)
    assert completed.returncode != 0
    assert f"No MLflow tracking server answers at {uri}" in completed.stderr
    assert "make server" in completed.stderr and "tracking=mlflow" in completed.stderr
