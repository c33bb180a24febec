"""One Hydra job: run the benchmark inside an MLflow run and report it."""

from __future__ import annotations

import gc
import logging
import math
from pathlib import Path

import mlflow
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.table import Table

from bench.cache import FeatureCache
from bench.config import BenchConfig, ConfigValueError, check_integer_overrides, to_bench_config
from bench.config.tracking_uri import mask_credentials
from bench.pipeline import BenchmarkRunner
from bench.pipeline.progress import Progress
from bench.reporting.console import shard_summary
from bench.tracking import current_sweep, flatten, run_keys, skip_job, tracked_run
from bench.tracking.artifacts import log_result, log_shard
from bench.tracking.protocol_reports import report_for

log = logging.getLogger(__name__)


def run_experiment(cfg: DictConfig) -> float:
    """Run, log and summarise one configuration; returns the accuracy (for sweepers; on IJB the
    TAR at FAR 1e-4).

    The config becomes typed objects first, so a value out of range stops the job before any
    run is opened or any model loads. In a sweep, a job that fails once its run is open returns
    NaN instead of raising: Hydra's sweeper would re-raise it only after the batch, skipping any
    later batch and the sweep's report. Its run ends FAILED, which the sweep's parent run counts
    and exits non-zero for. A cell of a sweep's grid that measures nothing
    (``BenchConfig.not_applicable``), or repeats another (``repeats_the_clean_job``), is skipped
    without a run and listed on the parent; alone, the first is an error.
    """
    hydra_cfg = HydraConfig.get()
    check_integer_overrides(cfg, hydra_cfg.overrides.task)
    config = to_bench_config(cfg)
    sweep = current_sweep() if hydra_cfg.mode is RunMode.MULTIRUN else None
    if (reason := config.not_applicable) is not None and sweep is None:
        raise ConfigValueError(reason)
    if sweep is not None and (reason := config.not_applicable or config.repeats_the_clean_job):
        skip_job(sweep, config.tracking.uri, hydra_cfg.job.num, " ".join(hydra_cfg.overrides.task), reason)
        return math.nan
    if config.cache.enabled:
        assert config.cache.dir is not None  # checked by CacheConfig
        # Opened once before the run: a cache folder that cannot be created or written stops the job
        # here, with its path and the remedies, instead of failing the run once it is open.
        FeatureCache(Path(config.cache.dir)).close()
    out_dir = Path(hydra_cfg.runtime.output_dir)
    tags = {
        run_keys.DETECTOR_TAG: config.detector.name,
        run_keys.MODEL_TAG: config.model.name,
        run_keys.DATASET_TAG: config.dataset.name,
        run_keys.OUTPUT_DIR_TAG: str(out_dir),
        run_keys.OVERRIDES_TAG: " ".join(hydra_cfg.overrides.task),
    }
    if sweep is not None:
        tags |= sweep.job_tags(hydra_cfg.job.num)
    name = config.run_name
    params = flatten(OmegaConf.to_container(cfg, resolve=True, enum_to_str=True))  # type: ignore[arg-type]
    run_id = None
    accuracy = math.nan
    try:
        with tracked_run(config.tracking, name, params, tags, sweep.parent_run_id if sweep else None) as run:
            run_id = run.info.run_id
            (out_dir / "config.yaml").write_text(mask_credentials(OmegaConf.to_yaml(cfg, resolve=True)))
            mlflow.log_artifact(str(out_dir / "config.yaml"))
            summary, accuracy = benchmark(config, out_dir, name)
            log.info("MLflow run %s (%s) in %s", run_id, name, mask_credentials(config.tracking.uri))
    except Exception:
        if sweep is None or run_id is None:  # no FAILED run for the sweep to count: Hydra reports it
            raise
        log.exception("Job #%d (%s) failed; its MLflow run %s is FAILED", hydra_cfg.job.num, name, run_id)
    else:
        Console().print(summary)
    # Matplotlib's savefig leaves a reference cycle through its frames, and through them this
    # job's frames, so the models, images and embeddings of a job would stay alive until the
    # cyclic collector happened to run: each job of a multirun would start hundreds of MiB
    # higher. Collect now, so that every job (failed ones too) starts from the same memory.
    gc.collect()
    return accuracy


def benchmark(config: BenchConfig, out_dir: Path, name: str) -> tuple[Table, float]:
    """Run one configuration and log it to the active run; its console summary and the figure
    a sweeper gets back: the protocol's headline (the accuracy, or IJB's TAR at its FAR), NaN
    for a shard, which evaluates nothing. The runner and its result die with this frame, so
    that ``gc.collect`` can free them."""
    with BenchmarkRunner(config) as runner:
        if runner.sharding.is_shard:
            shard = runner.run_shard(Progress(enabled=config.progress))
            log_shard(shard, out_dir, f"{runner.sharding.shard}/{runner.sharding.num_shards}")
            assert runner.sharding.shard is not None
            summary = shard_summary(name, runner.sharding.shard, runner.sharding.num_shards, shard.metrics)
            return summary, math.nan
        result = runner.run(Progress(enabled=config.progress))
    log_result(result, out_dir)
    report = report_for(result.protocol)
    return report.summary(name, result.metrics), float(result.metrics.get(report.headline, math.nan))
