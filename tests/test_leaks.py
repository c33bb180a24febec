"""A multirun's jobs must not keep each other's models, images or embeddings alive.

Each job of a multirun used to start about 330 MiB higher than the one before (matplotlib's
``savefig`` left a reference cycle through a job's frames, and through them its models and
arrays). Peak RSS between two jobs also moves by up to ~70 MiB with allocator noise, so a bound
on RSS either misses a leak or fails by chance. What a leak *is* can be counted exactly: the
objects of a finished job that are still alive. Jobs run here as Hydra runs them in a multirun
(``run_experiment`` in one process, one after the other), and after each one no runner,
detector, embedder or result may remain.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, open_dict

from bench.detectors import Detector
from bench.experiment import run_experiment
from bench.models import Embedder
from bench.pipeline import BenchmarkResult, BenchmarkRunner

from .conftest import CONF_DIR

JOB = ["progress=false", "cache=off", "dataset.folds=[0]", "dataset.pairs_per_fold=40"]
#: What a job builds that must die with it.
JOB_OBJECTS = (BenchmarkRunner, BenchmarkResult, Detector, Embedder)


def alive() -> dict[str, int]:
    """Live instances of the job's classes, as the cyclic collector sees them (no collection
    is run here: ``run_experiment`` must have freed them itself)."""
    counts: dict[str, int] = {}
    for item in gc.get_objects():
        if issubclass(type(item), JOB_OBJECTS):
            counts[type(item).__name__] = counts.get(type(item).__name__, 0) + 1
    return counts


@pytest.fixture()
def job_config(tmp_path: Path) -> Iterator[DictConfig]:
    """The config of one multirun job, with Hydra's job context set as a launcher sets it."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=JOB, return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(tmp_path)
        cfg.hydra.mode = RunMode.RUN
        cfg.hydra.job.num = 0
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]
    yield cfg
    HydraConfig.instance().cfg = None


def test_jobs_leave_no_model_or_result_alive(job_config: DictConfig) -> None:
    gc.collect()
    before = alive()
    for _ in range(2):
        accuracy = run_experiment(job_config)
        assert accuracy > 0.9
        assert alive() == before
