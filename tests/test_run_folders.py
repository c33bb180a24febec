"""Every run, sweep and training run claims a folder of its own, even when another run started in
the same second wants the same one: the second run takes the next free ``<name>_<n>``, and what
it logs to MLflow comes from its own folder only."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cloudpickle
import pytest
import torch
from hydra import compose, initialize_config_dir
from mlflow.entities import Run
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID
from omegaconf import DictConfig, OmegaConf

from bench.paths import PROJECT_ROOT_ENV, project_root
from bench.run_folders import RunFolderError, claim_folder
from bench.tracking import run_keys

from .cli import start_bench
from .conftest import CONF_DIR

#: A run in seconds: a centre crop per image and four pairs of one fold.
TINY = ("detector=center_crop", "dataset.pairs_per_fold=4", "sample_faces=4")
#: The cheapest training run: one step of XXS on a small batch, without validation.
ONE_STEP = (
    "backbone=edgeface_xxs",
    "data.min_images=10",
    "data.workers=0",
    "batch_size=4",
    "steps=1",
    "log_every=1",
    "validation=[]",
)


def claimed(folder: Path) -> str:
    """``hydra.run.dir`` / ``hydra.sweep.dir`` that claims ``folder`` (or its next free name)."""
    return f"${{claim_folder:{folder}}}"


def only_run(uri: str, experiment: str) -> Run:
    client = MlflowClient(uri)
    found = client.get_experiment_by_name(experiment)
    assert found is not None, f"no {experiment} experiment in {uri}"
    (run,) = client.search_runs([found.experiment_id])
    return run


def finish(process: subprocess.Popen[str]) -> None:
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr[-3000:]


def store_uri(home: Path) -> str:
    return f"sqlite:///{home / 'mlruns.db'}"


# -- claiming a folder ------------------------------------------------------------------------


def test_two_runs_of_one_second_claim_two_folders(tmp_path: Path) -> None:
    second = tmp_path / "outputs" / "2025-01-01" / "12-00-00"
    first, again = claim_folder(second), claim_folder(second)
    assert (first, again) == (second, tmp_path / "outputs" / "2025-01-01" / "12-00-00_1")
    assert first.is_dir() and again.is_dir()


def test_claims_racing_for_one_folder_never_share_it(tmp_path: Path) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        folders = list(pool.map(lambda _: claim_folder(tmp_path / "same"), range(16)))
    assert len(set(folders)) == 16
    assert {folder.name for folder in folders} == {"same", *(f"same_{n}" for n in range(1, 16))}


def test_a_folder_that_cannot_be_made_stops_the_run_naming_it(tmp_path: Path) -> None:
    (tmp_path / "outputs").write_text("a file where the run folders should go")
    with pytest.raises(RunFolderError, match=r"outputs.*hydra\.run\.dir"):
        claim_folder(tmp_path / "outputs" / "12-00-00")


@pytest.fixture()
def relocated_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``${project_root:}`` (and the cwd) in ``tmp_path``, so that resolving a shipped run folder
    claims it there rather than in the checkout's ``outputs/``."""
    monkeypatch.setenv(PROJECT_ROOT_ENV, str(tmp_path))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def with_hydra_node(config_name: str) -> DictConfig:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name=config_name, return_hydra_config=True)


@pytest.mark.parametrize("config_name", ["config", "train"])
@pytest.mark.parametrize("key", ["hydra.run.dir", "hydra.sweep.dir"])
def test_the_shipped_configs_claim_their_folders_once(
    relocated_root: Path, config_name: str, key: str
) -> None:
    config = with_hydra_node(config_name)
    folder = Path(str(OmegaConf.select(config, key)))
    assert folder.is_dir() and folder.is_relative_to(relocated_root), f"{key}: {folder} was not claimed"
    # Hydra reads the key again, copies the config's cache to every job of a sweep, and the
    # launchers (joblib's loky, submitit) cloudpickle it to their workers: each must find the
    # folder this run claimed.
    job = with_hydra_node(config_name)
    OmegaConf.copy_cache(from_config=config, to_config=job)
    for again in (config, job, cloudpickle.loads(cloudpickle.dumps(config))):
        assert Path(str(OmegaConf.select(again, key))) == folder
    assert sum(1 for path in folder.parent.iterdir()) == 1


# -- real runs started together ---------------------------------------------------------------


def pair_folds(path: Path) -> set[str]:
    with path.open(newline="") as handle:
        return {row["fold"] for row in csv.DictReader(handle)}


def test_two_benchmark_runs_started_together_log_only_their_own_folders(tmp_path: Path) -> None:
    # Both want one folder, as two runs of one second want one <date>/<time>: the collision is
    # forced by the name, not left to the clock.
    folder = tmp_path / "outputs" / "same-second"
    folds = {"a": "0", "b": "1"}
    processes = {
        name: start_bench(
            tmp_path / name, *TINY, f"dataset.folds=[{fold}]", f"hydra.run.dir={claimed(folder)}"
        )
        for name, fold in folds.items()
    }
    for process in processes.values():
        finish(process)
    runs = {name: only_run(store_uri(tmp_path / name), "face-alignment") for name in folds}
    dirs = {name: Path(run.data.tags[run_keys.OUTPUT_DIR_TAG]) for name, run in runs.items()}
    assert sorted(path.name for path in dirs.values()) == ["same-second", "same-second_1"]
    for name, run in runs.items():
        own, other = run.info.run_id, runs["b" if name == "a" else "a"].info.run_id
        logged = Path(
            MlflowClient(store_uri(tmp_path / name)).download_artifacts(
                own, run_keys.PAIR_SCORES_FILE, str(tmp_path / f"{name}-artifacts")
            )
        )
        assert pair_folds(logged) == {folds[name]}, f"run {name} logged another run's pair scores"
        assert logged.read_bytes() == (dirs[name] / run_keys.PAIR_SCORES_FILE).read_bytes()
        log = (dirs[name] / "cli.log").read_text()
        assert own in log and other not in log, f"run {name}'s cli.log is not its own"


def start_training(home: Path, *overrides: str) -> subprocess.Popen[str]:
    env = {**os.environ, "MLFLOW_TRACKING_URI": store_uri(home), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "bench.train", *ONE_STEP, *overrides],
        cwd=project_root(),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_training_runs_started_together_keep_their_own_backbones(tmp_path: Path) -> None:
    folder = tmp_path / "outputs" / "same-second"
    seeds = {"a": "0", "b": "1"}
    processes = {
        name: start_training(tmp_path / name, f"seed={seed}", f"hydra.run.dir={claimed(folder)}")
        for name, seed in seeds.items()
    }
    for process in processes.values():
        finish(process)
    runs = {name: only_run(store_uri(tmp_path / name), "edgeface-training") for name in seeds}
    dirs = {name: Path(run.data.params["result.backbone"]).parent for name, run in runs.items()}
    assert sorted(path.name for path in dirs.values()) == ["same-second", "same-second_1"]
    for name, run in runs.items():
        assert run.data.params["result.checkpoint"] == str(dirs[name] / "checkpoints" / "step_000001")
        assert (dirs[name] / "checkpoints" / "step_000001" / "rank0.pt").is_file()
        logged = MlflowClient(store_uri(tmp_path / name)).download_artifacts(
            run.info.run_id, "backbone.pt", str(tmp_path / f"{name}-artifacts")
        )
        assert Path(logged).read_bytes() == (dirs[name] / "backbone.pt").read_bytes()
    weights = [torch.load(dirs[name] / "backbone.pt", weights_only=True) for name in seeds]
    assert any(not torch.equal(weights[0][key], weights[1][key]) for key in weights[0])


def test_a_sweep_whose_folder_is_taken_claims_the_next_for_every_job_and_its_report(tmp_path: Path) -> None:
    taken = tmp_path / "multirun" / "same-second"
    taken.mkdir(parents=True)
    (taken / "another_sweep.txt").write_text("this folder belongs to a sweep started in the same second")
    process = start_bench(
        tmp_path,
        *TINY,
        "dataset.folds=[0]",
        "dataset.pairs_per_fold=4,6",
        f"hydra.sweep.dir={claimed(taken)}",
        "-m",
    )
    finish(process)
    own = tmp_path / "multirun" / "same-second_1"
    assert [path.name for path in taken.iterdir()] == ["another_sweep.txt"]
    client = MlflowClient(store_uri(tmp_path))
    experiment = client.get_experiment_by_name("face-alignment")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    (parent,) = [run for run in runs if MLFLOW_PARENT_RUN_ID not in run.data.tags]
    assert parent.data.tags[run_keys.SWEEP_DIR_TAG] == str(own)
    jobs = [Path(run.data.tags[run_keys.OUTPUT_DIR_TAG]) for run in runs if run is not parent]
    assert len(jobs) == 2 and all(job.parent == own for job in jobs)
    assert (own / "comparison.csv").is_file()
