"""Sweeps as a user runs them: one MLflow parent run per multirun, a child per job, a comparison
report, failures that do not stop the sweep, and parallel jobs on one SQLite store."""

from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir
from mlflow.entities import Run
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

from bench.paths import project_root

from .cli import run_bench
from .cli import store as store

SUBSET = ("dataset.folds=[0]", "dataset.pairs_per_fold=20")
REPORT = {
    "comparison.csv",
    "comparison.md",
    "dashboard.png",
    "roc_overlay.png",
    "aligned_faces_by_method.png",
}


def parent_and_children(client: MlflowClient) -> tuple[Run, list[Run]]:
    experiment = client.get_experiment_by_name("face-alignment")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    (parent,) = [run for run in runs if MLFLOW_PARENT_RUN_ID not in run.data.tags]
    children = [run for run in runs if run.data.tags.get(MLFLOW_PARENT_RUN_ID) == parent.info.run_id]
    assert len(children) == len(runs) - 1  # every other run is this sweep's child
    return parent, sorted(children, key=lambda run: int(run.data.tags["job_number"]))


def artifact_names(client: MlflowClient, run: Run) -> set[str]:
    return {info.path for info in client.list_artifacts(run.info.run_id)}


def test_a_parallel_sweep_is_one_parent_run_with_a_report(
    store: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    # Two jobs at once on joblib's worker processes, both writing to one SQLite store.
    uri, env = store
    sweep_dir = tmp_path / "sweep"
    completed = run_bench(
        *SUBSET,
        "detector=yunet,mediapipe_detection",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        f"hydra.sweep.dir={sweep_dir}",
        "-m",
        env=env,
    )
    assert completed.returncode == 0, completed.stderr
    assert "Ranking by accuracy" in completed.stdout
    client = MlflowClient(uri)
    parent, children = parent_and_children(client)
    assert parent.info.status == "FINISHED"
    assert parent.data.metrics["jobs_total"] == 2
    assert parent.data.metrics["jobs_succeeded"] == 2
    assert parent.data.metrics["jobs_failed"] == 0
    sweep_id = parent.data.tags["sweep_id"]
    assert [child.data.params["detector.name"] for child in children] == ["yunet", "mediapipe_detection"]
    for number, child in enumerate(children):
        assert child.info.status == "FINISHED"
        assert child.data.metrics["num_pairs_scored"] == 20
        assert child.data.tags["sweep_id"] == sweep_id
        assert child.data.tags["job_number"] == str(number)
        assert "dataset.folds=[0]" in child.data.tags["overrides"].split()
    assert max(child.info.start_time for child in children) < min(child.info.end_time for child in children)
    assert artifact_names(client, parent) >= REPORT
    assert {path.name for path in sweep_dir.iterdir()} >= REPORT


def test_a_failed_job_does_not_stop_the_sweep(store: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    # edgeface_base's weights are not here and BENCH_OFFLINE forbids the download: job #0 fails
    # as it loads its model, and job #1 must still run, in the same process (basic launcher).
    uri, env = store
    sweep_dir = tmp_path / "sweep"
    completed = run_bench(
        *SUBSET,
        "model=edgeface_base,edgeface_xs_gamma_06",
        f"hydra.sweep.dir={sweep_dir}",
        "-m",
        env={**env, "BENCH_OFFLINE": "1"},
    )
    assert completed.returncode != 0
    assert "1 of 2 jobs failed" in completed.stderr
    # Job #0's traceback is logged as it fails, and job #1 starts after it.
    assert completed.stdout.index("edgeface_base.pt") < completed.stdout.index("#1 : ")
    client = MlflowClient(uri)
    parent, (failed, finished) = parent_and_children(client)
    assert (failed.data.params["model.name"], failed.info.status) == ("edgeface_base", "FAILED")
    assert (finished.data.params["model.name"], finished.info.status) == ("edgeface_xs_gamma_06", "FINISHED")
    assert parent.info.status == "FINISHED"  # not every job failed
    assert parent.data.metrics["jobs_failed"] == 1
    assert parent.data.metrics["jobs_succeeded"] == 1
    assert artifact_names(client, parent) >= {"comparison.csv", "comparison.md"}
    assert (sweep_dir / "comparison.csv").is_file()


def test_a_single_run_has_no_parent(store: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    uri, env = store
    completed = run_bench(*SUBSET, f"hydra.run.dir={tmp_path / 'run'}", env=env)
    assert completed.returncode == 0, completed.stderr
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("face-alignment")
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    assert MLFLOW_PARENT_RUN_ID not in run.data.tags and "sweep_id" not in run.data.tags


def test_the_slurm_launcher_composes() -> None:
    with initialize_config_dir(config_dir=str(project_root() / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=["hydra/launcher=slurm"], return_hydra_config=True)
    assert cfg.hydra.launcher._target_.endswith("submitit_launcher.SlurmLauncher")
    assert cfg.hydra.launcher.cpus_per_task == 8
    assert cfg.hydra.callbacks.sweep._target_ == "bench.tracking.sweep.SweepTracker"
