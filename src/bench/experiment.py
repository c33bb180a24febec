"""One Hydra job: run the benchmark inside an MLflow run and report it."""

from __future__ import annotations

import gc
import logging
from pathlib import Path

import mlflow
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from bench.pipeline import BenchmarkRunner
from bench.pipeline.progress import Progress
from bench.reporting.console import print_summary
from bench.tracking import flatten, log_result, tracked_run

log = logging.getLogger(__name__)


def run_name(cfg: DictConfig) -> str:
    return cfg.tracking.run_name or f"{cfg.detector.name}+{cfg.model.name}@{cfg.dataset.name}"


def run_experiment(cfg: DictConfig) -> float:
    """Run, log and summarise one configuration; returns the accuracy (for sweepers)."""
    hydra_cfg = HydraConfig.get()
    out_dir = Path(hydra_cfg.runtime.output_dir)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(resolved, dict)
    tags = {
        "detector": cfg.detector.name,
        "model": cfg.model.name,
        "dataset": cfg.dataset.name,
        "hydra_output_dir": str(out_dir),
        "overrides": " ".join(hydra_cfg.overrides.task),
    }
    name = run_name(cfg)
    with tracked_run(cfg.tracking, name, flatten(resolved), tags) as run:
        (out_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
        mlflow.log_artifact(str(out_dir / "config.yaml"))
        runner = BenchmarkRunner(resolved)
        result = runner.run(Progress(enabled=cfg.progress))
        log_result(result, out_dir)
        log.info("MLflow run %s (%s) in %s", run.info.run_id, name, cfg.tracking.uri)
    print_summary(name, result.metrics)
    accuracy = float(result.metrics["accuracy"])
    del runner, result
    # Matplotlib's savefig leaves a reference cycle through its frames, and through them this
    # job's frames, so the models, images and embeddings of a job would stay alive until the
    # cyclic collector happened to run: each job of a multirun would start hundreds of MiB
    # higher. Collect now, so that every job starts from the same memory.
    gc.collect()
    return accuracy
