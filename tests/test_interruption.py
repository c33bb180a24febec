"""A run stopped by SIGTERM ends KILLED, keeps what it finished, and its re-run does the rest;
a crash ends FAILED with its traceback."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import psutil
from mlflow.tracking import MlflowClient

from .cli import start_bench as start_in_background

FOLDS = ["dataset.folds=[0,1,2]"]


def start_bench(tmp_path: Path, *overrides: str) -> subprocess.Popen[str]:
    return start_in_background(tmp_path, *FOLDS, *overrides)


def cached_embeddings(cache: Path) -> int:
    if not (cache / "features.sqlite").exists():
        return 0
    with sqlite3.connect(cache / "features.sqlite", timeout=30) as connection:
        tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return sum(
            connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            for table in tables
            if table.startswith("embeddings")
        )


def wait_for_embeddings(process: subprocess.Popen[str], cache: Path, count: int) -> None:
    """Until the running ``process`` has cached ``count`` embeddings (its run is then open)."""
    deadline = time.monotonic() + 300
    while cached_embeddings(cache) < count:
        assert process.poll() is None, process.communicate()[1][-3000:]
        assert time.monotonic() < deadline, f"{count} embeddings were not cached in time"
        time.sleep(0.2)


def runs_by_start(tmp_path: Path) -> list:
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlruns.db'}")
    experiment = client.get_experiment_by_name("face-alignment")
    assert experiment is not None
    return sorted(client.search_runs([experiment.experiment_id]), key=lambda run: run.info.start_time)


def test_sigterm_ends_the_run_killed_and_the_rerun_resumes(tmp_path: Path) -> None:
    process = start_bench(tmp_path, f"hydra.run.dir={tmp_path / 'first'}")
    wait_for_embeddings(process, tmp_path / "cache", 200)
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=120)
    assert process.returncode != 0
    done = cached_embeddings(tmp_path / "cache")

    rerun = start_bench(tmp_path, f"hydra.run.dir={tmp_path / 'second'}")
    _, stderr = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, stderr[-3000:]
    killed, finished = runs_by_start(tmp_path)
    assert killed.info.status == "KILLED"
    assert finished.info.status == "FINISHED"
    metrics = json.loads((tmp_path / "second" / "metrics.json").read_text())["metrics"]
    assert metrics["num_images_cached"] == done > 0
    assert metrics["num_images_computed"] == metrics["num_images"] - done
    assert metrics["num_pairs_scored"] == 1800


def test_a_crash_leaves_its_traceback_in_the_failed_run(tmp_path: Path) -> None:
    # YuNet's scores stay below 1 on LFW (test_pipeline.NO_FACE), so a threshold of 1 finds no face,
    # and failure_policy=error makes the run raise on the first image.
    process = start_bench(
        tmp_path,
        f"hydra.run.dir={tmp_path / 'run'}",
        "detector.options.score_threshold=1.0",
        "failure_policy=error",
    )
    process.communicate(timeout=600)
    assert process.returncode != 0
    (run,) = runs_by_start(tmp_path)
    assert run.info.status == "FAILED"
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlruns.db'}")
    text = Path(client.download_artifacts(run.info.run_id, "traceback.txt", str(tmp_path))).read_text()
    assert "Traceback" in text and "no face found and failure_policy=error" in text


def test_a_run_killed_outright_is_ended_killed_by_the_next_start(tmp_path: Path) -> None:
    # SIGKILL leaves nothing of the process to end its run: the next start on this store does.
    process = start_bench(tmp_path, f"hydra.run.dir={tmp_path / 'first'}")
    wait_for_embeddings(process, tmp_path / "cache", 1)
    (orphan,) = runs_by_start(tmp_path)
    assert orphan.info.status == "RUNNING"
    process.kill()
    process.communicate(timeout=60)

    rerun = start_bench(tmp_path, f"hydra.run.dir={tmp_path / 'second'}", "dataset.pairs_per_fold=4")
    stdout, stderr = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, stderr[-3000:]
    assert f"{orphan.info.run_id} were RUNNING but their process had died" in stdout + stderr
    killed, finished = runs_by_start(tmp_path)
    assert (killed.info.run_id, killed.info.status) == (orphan.info.run_id, "KILLED")
    assert killed.data.tags["bench.ended_by"].startswith("a later start on this host")
    assert finished.info.status == "FINISHED"


def test_a_live_run_of_another_process_is_left_running(tmp_path: Path) -> None:
    from bench.tracking.mlflow_store import end_stale_runs, owner_tags

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlruns.db'}")
    experiment = client.create_experiment("face-alignment")
    alive = client.create_run(experiment, tags=owner_tags())
    reused_pid = client.create_run(experiment, tags={**owner_tags(), "bench.pid_started": "1.000"})
    elsewhere = client.create_run(experiment, tags={**owner_tags(), "bench.host": "another-host"})
    assert end_stale_runs(client, experiment) == [reused_pid.info.run_id]
    for run, status in ((alive, "RUNNING"), (reused_pid, "KILLED"), (elsewhere, "RUNNING")):
        assert client.get_run(run.info.run_id).info.status == status


def sweep_runs(tmp_path: Path) -> tuple:
    """The sweep's parent run and its children, in job order."""
    runs = runs_by_start(tmp_path)
    (parent,) = [run for run in runs if "mlflow.parentRunId" not in run.data.tags]
    children = sorted(
        (run for run in runs if run.data.tags.get("mlflow.parentRunId") == parent.info.run_id),
        key=lambda run: int(run.data.tags["job_number"]),
    )
    return parent, children


def test_sigterm_ends_a_sweep_killed_with_its_counts_and_report(tmp_path: Path) -> None:
    # In-process jobs: a short job #0 finishes, SIGTERM arrives during the long job #1.
    sweep_dir = tmp_path / "sweep"
    process = start_bench(tmp_path, "dataset.pairs_per_fold=4,300", f"hydra.sweep.dir={sweep_dir}", "-m")
    deadline = time.monotonic() + 300
    while not list(sweep_dir.glob("0_*/metrics.json")):
        assert process.poll() is None, process.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "job #0 did not finish in time"
        time.sleep(0.2)
    wait_for_embeddings(process, tmp_path / "cache", cached_embeddings(tmp_path / "cache") + 20)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)

    assert process.returncode == 128 + signal.SIGTERM, stderr[-3000:]
    assert "stopped by signal SIGTERM" in stderr
    parent, children = sweep_runs(tmp_path)
    assert parent.info.status == "KILLED"
    assert [child.info.status for child in children] == ["FINISHED", "KILLED"]
    counts = {key: parent.data.metrics[key] for key in ("jobs_total", "jobs_succeeded", "jobs_killed")}
    assert counts == {"jobs_total": 2, "jobs_succeeded": 1, "jobs_killed": 1}
    assert (sweep_dir / "comparison.csv").exists()
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlruns.db'}")
    assert "comparison.md" in {info.path for info in client.list_artifacts(parent.info.run_id)}


def test_sigterm_to_a_parallel_sweep_stops_its_workers(tmp_path: Path) -> None:
    # joblib's worker processes run the jobs; SIGTERM reaches only the main process.
    process = start_bench(
        tmp_path,
        "dataset.pairs_per_fold=300",
        "detector=yunet,center_crop",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        "-m",
    )
    wait_for_embeddings(process, tmp_path / "cache", 40)
    workers = psutil.Process(process.pid).children(recursive=True)
    assert len(workers) >= 2
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)

    assert process.returncode == 128 + signal.SIGTERM, stderr[-3000:]
    _, alive = psutil.wait_procs(workers, timeout=30)
    assert [worker for worker in alive if worker.status() != psutil.STATUS_ZOMBIE] == []
    parent, children = sweep_runs(tmp_path)
    assert parent.info.status == "KILLED"
    assert [child.info.status for child in children] == ["KILLED", "KILLED"]
    assert parent.data.metrics["jobs_killed"] == 2
