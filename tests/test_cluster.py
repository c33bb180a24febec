"""A real single-node Slurm cluster (``tests/cluster/cluster.sh``): jobs run and ``sacct`` sees them.

Marked ``cluster``: the session fixture starts munged, MariaDB, slurmdbd, slurmctld and slurmd
from Debian's packages in a tmp dir (on 127.0.0.1, ports in ``tests/cluster/README.md``) and
stops them after the session. Skipped when the packages are missing
(``tests/cluster/cluster.sh install`` installs them as root).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from mlflow import MlflowClient
from mlflow.entities import Run
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

from bench.metrics import keys
from bench.paths import project_root
from bench.pipeline import BenchmarkRunner
from bench.tracking import run_keys

from .conftest import bench_config, run_benchmark
from .mlflow_server import serve_mlflow

CLUSTER_SH = Path(__file__).parent / "cluster" / "cluster.sh"
#: One command of each package cluster.sh needs (the daemons are in /usr/sbin).
_COMMANDS = ("munged", "mariadbd", "slurmdbd", "slurmctld", "slurmd", "sbatch", "sacct")
_SBIN_PATH = f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin"
MISSING = [name for name in _COMMANDS if shutil.which(name, path=_SBIN_PATH) is None]
#: Unix sockets (munged's, MariaDB's) live in the run dir; their paths must stay under 108 bytes.
_MAX_RUN_DIR = 60
JOB_TIMEOUT_S = 120
SACCT_TIMEOUT_S = 30  # slurmctld hands a finished job to slurmdbd asynchronously
_FINAL_STATES = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED"}

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(
        bool(MISSING),
        reason=f"{', '.join(MISSING)} not found: run `tests/cluster/cluster.sh install` as root "
        "(Debian's munge, slurmctld, slurmd, slurmdbd, slurm-client, mariadb-server)",
    ),
]


@dataclass(frozen=True)
class SlurmCluster:
    """A running test cluster: its run dir and the environment its commands need."""

    run_dir: Path
    env: dict[str, str]

    def run(
        self, *args: str, timeout: float = JOB_TIMEOUT_S, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            args, env=self.env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
        )

    def sacct(self, job_id: str) -> list[tuple[str, str, str]]:
        """``(JobID, State, ExitCode)`` of the job and its steps once the job's state is final."""
        deadline = time.monotonic() + SACCT_TIMEOUT_S
        while True:
            result = self.run("sacct", "-j", job_id, "--format=JobID,State,ExitCode", "-n", "-P")
            assert result.returncode == 0, result.stderr
            rows = [tuple(line.split("|")) for line in result.stdout.splitlines() if line]
            states = {row[0]: row[1] for row in rows}
            if states.get(job_id, "").split(" ")[0] in _FINAL_STATES:
                return rows  # type: ignore[return-value]
            if time.monotonic() > deadline:
                pytest.fail(f"sacct shows no final state for job {job_id} after {SACCT_TIMEOUT_S}s: {rows}")
            time.sleep(0.5)


def _cluster_sh(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(CLUSTER_SH), *args], capture_output=True, text=True, timeout=300, check=False
    )


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmCluster]:
    """The cluster, started once for the session in a tmp dir and stopped after it."""
    run_dir = tmp_path_factory.mktemp("slurm")
    if len(str(run_dir)) > _MAX_RUN_DIR:  # a long --basetemp: keep the socket paths short
        run_dir = Path(tempfile.mkdtemp(prefix="bench-slurm-"))
    started = _cluster_sh("start", str(run_dir))
    try:
        if started.returncode != 0:
            pytest.fail(f"cluster.sh start failed ({started.returncode}):\n{started.stderr}{started.stdout}")
        exports = _cluster_sh("env", str(run_dir))
        assert exports.returncode == 0, exports.stderr
        # Nothing of an enclosing Slurm job (or another cluster) leaks into the test jobs.
        env = {key: value for key, value in os.environ.items() if not key.startswith("SLURM_")}
        for line in exports.stdout.splitlines():
            word, assignment = shlex.split(line)
            assert word == "export", line
            key, _, value = assignment.partition("=")
            env[key] = value
        yield SlurmCluster(run_dir=run_dir, env=env)
    finally:
        stopped = _cluster_sh("stop", str(run_dir))
        assert stopped.returncode == 0, f"cluster.sh stop failed:\n{stopped.stderr}"


def _submit(
    cluster: SlurmCluster, tmp_path: Path, command: str
) -> tuple[str, subprocess.CompletedProcess[str]]:
    """``sbatch --wait --wrap COMMAND``: the job id and sbatch's result (the job's exit code)."""
    submitted = cluster.run(
        "sbatch", "--wait", "--parsable", f"--chdir={tmp_path}", f"--output={tmp_path}/job-%j.out",
        "--wrap", command,
        cwd=tmp_path,
    )  # fmt: skip
    job_id = submitted.stdout.strip().split(";")[0]
    assert job_id.isdigit(), f"no job id from sbatch: {submitted.stdout!r} {submitted.stderr!r}"
    return job_id, submitted


def test_job_completes_and_sacct_shows_it(slurm_cluster: SlurmCluster, tmp_path: Path) -> None:
    job_id, submitted = _submit(slurm_cluster, tmp_path, "hostname")
    assert submitted.returncode == 0, submitted.stderr
    assert (tmp_path / f"job-{job_id}.out").read_text().strip() == subprocess.check_output(
        ["hostname"], text=True
    ).strip()
    rows = slurm_cluster.sacct(job_id)
    assert (job_id, "COMPLETED", "0:0") in rows, rows
    assert all(state == "COMPLETED" for _, state, _ in rows), rows  # the batch step too


def test_failing_job_shows_failed_with_its_exit_code(slurm_cluster: SlurmCluster, tmp_path: Path) -> None:
    job_id, submitted = _submit(slurm_cluster, tmp_path, "exit 3")
    assert submitted.returncode == 3, (submitted.stdout, submitted.stderr)  # sbatch --wait passes it on
    rows = slurm_cluster.sacct(job_id)
    assert (job_id, "FAILED", "3:0") in rows, rows


# --- a sweep through hydra/launcher=slurm (submitit), logging to a real tracking server ---------

#: The smallest useful jobs: one fold of 20 pairs, one CPU each (the node has 2).
SWEEP = (
    "hydra/launcher=slurm",
    "hydra.launcher.cpus_per_task=1",
    "hydra.launcher.mem_gb=2",
    "hydra.launcher.timeout_min=10",
    "dataset.folds=[0]",
    "dataset.pairs_per_fold=20",
    "progress=false",
)


@pytest.fixture(scope="module")
def tracking_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve_mlflow(tmp_path_factory.mktemp("tracking")) as uri:
        yield uri


def _slurm_sweep(
    cluster: SlurmCluster, uri: str, workdir: Path, *overrides: str
) -> tuple[subprocess.CompletedProcess[str], Run, list[Run]]:
    """``python -m bench ... -m`` through the cluster, as the README tells users to run it: the
    result, and the sweep's parent run and children as the tracking server holds them."""
    env = {
        **cluster.env,
        "MLFLOW_TRACKING_URI": uri,
        "BENCH_OFFLINE": "1",
        "BENCH_CACHE_DIR": str(workdir / "cache"),
    }
    completed = subprocess.run(
        [sys.executable, "-m", "bench", *SWEEP, *overrides, f"hydra.sweep.dir={workdir / 'multirun'}", "-m"],
        capture_output=True,
        text=True,
        cwd=project_root(),
        env=env,
        timeout=900,
    )
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("face-alignment")
    assert experiment is not None, completed.stderr[-3000:]
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time DESC"])
    (parent,) = [run for run in runs if MLFLOW_PARENT_RUN_ID not in run.data.tags][:1]
    children = sorted(
        (run for run in runs if run.data.tags.get(MLFLOW_PARENT_RUN_ID) == parent.info.run_id),
        key=lambda run: int(run.data.tags["job_number"]),
    )
    return completed, parent, children


def _array_tasks(cluster: SlurmCluster, workdir: Path) -> dict[str, str]:
    """The sweep's Slurm array tasks (submitit's folder names them) and their final states."""
    folders = (workdir / "multirun" / ".submitit").iterdir()
    (array,) = {path.name.split("_")[0] for path in folders if path.is_dir() and path.name[0].isdigit()}
    for task in ("0", "1"):
        cluster.sacct(f"{array}_{task}")  # waits until the task's state is final
    result = cluster.run("sacct", "-j", array, "--format=JobID,State,ExitCode", "-n", "-P", "-X")
    assert result.returncode == 0, result.stderr
    return {job: state for job, state, _ in (line.split("|") for line in result.stdout.splitlines())}


def test_a_sweep_through_slurm_logs_every_job_and_the_report(
    slurm_cluster: SlurmCluster, tracking_server: str, tmp_path: Path
) -> None:
    completed, parent, children = _slurm_sweep(
        slurm_cluster, tracking_server, tmp_path, "detector=yunet,center_crop"
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert parent.info.status == "FINISHED"
    assert [run.data.tags["detector"] for run in children] == ["yunet", "center_crop"]
    assert all(run.info.status == "FINISHED" for run in children)
    logged = {item.path for item in MlflowClient(tracking_server).list_artifacts(parent.info.run_id)}
    assert {"comparison.md", "comparison.csv"} <= logged
    tasks = _array_tasks(slurm_cluster, tmp_path)
    assert sorted(tasks.values()) == ["COMPLETED", "COMPLETED"], tasks


def test_a_job_that_fails_on_the_cluster_is_counted_and_the_sweep_goes_on(
    slurm_cluster: SlurmCluster, tracking_server: str, tmp_path: Path
) -> None:
    # edgeface_base's weights are not here and BENCH_OFFLINE forbids the download: that job fails.
    completed, parent, children = _slurm_sweep(
        slurm_cluster,
        tracking_server,
        tmp_path,
        "detector=center_crop",
        "model=edgeface_base,edgeface_xs_gamma_06",
    )
    assert completed.returncode != 0
    assert "1 of 2 jobs failed" in completed.stderr
    assert [(run.data.tags["model"], run.info.status) for run in children] == [
        ("edgeface_base", "FAILED"),
        ("edgeface_xs_gamma_06", "FINISHED"),
    ]
    assert parent.info.status == "FINISHED" and parent.data.metrics["jobs_failed"] == 1
    # The job caught its failure and ended its run FAILED: Slurm saw it complete.
    assert sorted(_array_tasks(slurm_cluster, tmp_path).values()) == ["COMPLETED", "COMPLETED"]


# --- training: one Slurm job of two tasks (srun torchrun), gloo on the CPU ----------------------

#: XXS from scratch on 23 identities, 3 steps of 8 faces per process, no validation.
TRAINING = (
    "backbone=edgeface_xxs",
    "data.min_images=10",
    "data.workers=0",
    "batch_size=8",
    "steps=3",
    "log_every=1",
    "validation=[]",
)


def test_training_as_a_job_of_two_tasks_reaches_the_local_two_process_weights(
    slurm_cluster: SlurmCluster, tracking_server: str, tmp_path: Path
) -> None:
    env = {**slurm_cluster.env, "MLFLOW_TRACKING_URI": tracking_server, "OMP_NUM_THREADS": "1"}
    local = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         "-m", "bench.train", *TRAINING, f"hydra.run.dir={tmp_path / 'local'}"],
        capture_output=True, text=True, cwd=project_root(), env=env, timeout=600,
    )  # fmt: skip
    assert local.returncode == 0, local.stderr[-3000:]
    script = project_root() / "scripts" / "slurm" / "train.sbatch"
    run_dir = tmp_path / "slurm"
    submitted = subprocess.run(
        ["sbatch", "--wait", "--parsable", "--ntasks=2", "--cpus-per-task=1", f"--output={tmp_path}/job.out",
         str(script), *TRAINING],
        capture_output=True, text=True, cwd=project_root(), timeout=600,
        env={**env, "RUN_DIR": str(run_dir), "PYTHON": sys.executable},
    )  # fmt: skip
    job = submitted.stdout.strip().split(";")[0]
    assert submitted.returncode == 0, (tmp_path / "job.out").read_text()[-3000:]
    rows = slurm_cluster.sacct(job)
    assert (job, "COMPLETED", "0:0") in rows, rows
    slurm, local = (
        torch.load(path / "backbone.pt", weights_only=True) for path in (run_dir, tmp_path / "local")
    )
    for name, value in local.items():
        torch.testing.assert_close(slurm[name], value, rtol=1e-5, atol=1e-7, msg=name)
    shards = {path.name for path in (run_dir / "checkpoints" / "step_000003").iterdir()}
    assert shards == {"rank0.pt", "rank1.pt"}


# --- one evaluation sharded over an array of four tasks, and its merge ---------------------------

SHARDED = ("detector=yunet", "dataset.folds=[0]", "dataset.pairs_per_fold=40")


def test_a_four_shard_evaluation_through_the_cluster_equals_the_unsharded_run_bit_for_bit(
    slurm_cluster: SlurmCluster, tracking_server: str, tmp_path: Path
) -> None:
    cache = f"cache.dir={tmp_path / 'cache'}"
    env = {
        **slurm_cluster.env,
        "MLFLOW_TRACKING_URI": tracking_server,
        "PYTHON": sys.executable,
        "WAIT": "1",
        "OMP_NUM_THREADS": "1",
    }
    script = project_root() / "scripts" / "slurm" / "sharded.sh"
    submitted = subprocess.run(
        [str(script), "4", *SHARDED, cache, "hardware.num_workers=0", "pipeline.embed_workers=1"],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=4 * JOB_TIMEOUT_S,
    )  # fmt: skip
    logs = "\n".join(path.read_text()[-2000:] for path in sorted(tmp_path.glob("bench-*.out")))
    assert submitted.returncode == 0, (submitted.stdout, submitted.stderr, logs)
    assert sorted(path.name for path in (tmp_path / "cache" / "shards").iterdir()) == [
        f"{shard}-of-4" for shard in range(4)
    ]
    client = MlflowClient(tracking_server)
    experiment = client.get_experiment_by_name("face-alignment")
    assert experiment is not None
    # The tracking server is the session's: other tests' runs are there too.
    runs = [
        run
        for run in client.search_runs([experiment.experiment_id])
        if run.data.params.get("dataset.num_shards") == "4"
    ]
    shards = sorted(run.data.tags[run_keys.SHARD_TAG] for run in runs if run_keys.SHARD_TAG in run.data.tags)
    assert shards == ["0/4", "1/4", "2/4", "3/4"]
    (merge,) = [run for run in runs if run_keys.SHARD_TAG not in run.data.tags]
    assert merge.info.status == "FINISHED" and merge.data.metrics[keys.NUM_IMAGES_COMPUTED] == 0

    whole = run_benchmark(*SHARDED, "cache=off")
    with BenchmarkRunner(bench_config(*SHARDED, cache, "dataset.num_shards=4")) as runner:
        merged = runner.run()  # the cluster's stores, merged again here: the arrays, not the CSV
    np.testing.assert_array_equal(merged.scores, whole.scores)
    assert merge.data.metrics[keys.ACCURACY] == whole.metrics[keys.ACCURACY]
