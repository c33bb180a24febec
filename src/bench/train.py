"""``python -m bench.train`` (or ``bench train``): train an EdgeFace backbone, a Hydra app on the
benchmark's ``conf/`` tree (``conf/train.yaml``), logged to the same MLflow store.

On several processes (``torchrun --nproc_per_node=N -m bench.train``) only the first logs; the
others train their share and write their checkpoint shards.
"""

from __future__ import annotations

import logging
from typing import cast

import hydra
import mlflow
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from bench.cli import prepare
from bench.config import check_integer_overrides
from bench.config.store import to_typed_config
from bench.config.tracking_uri import mask_credentials
from bench.config.training import TrainConfig
from bench.paths import project_root
from bench.tracking import flatten, tracked_run
from bench.training.distributed import start_processes, stop_processes
from bench.training.trainer import TrainResult, prepare_training, run_training

log = logging.getLogger(__name__)


def to_train_config(cfg: DictConfig) -> TrainConfig:
    """The composed ``conf/train.yaml`` as typed objects."""
    return to_typed_config(cfg, TrainConfig)


@hydra.main(version_base="1.3", config_path=str(project_root() / "conf"), config_name="train")
def app(cfg: DictConfig) -> float:
    check_integer_overrides(cfg, HydraConfig.get().overrides.task)
    config = to_train_config(cfg)
    processes = start_processes(str(config.device))
    try:
        # The data and checkpoint are opened and checked first: a refusal leaves no FAILED run.
        trainer = prepare_training(config, processes)
        if not processes.is_main:
            return run_training(config, processes, lambda _step, _metrics: None, trainer).last_loss
        params = flatten(cast(dict, OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)))
        name = f"train {config.backbone.name} {config.loss.name} x{processes.world_size}"
        tags = {"task": "training", "backbone": config.backbone.name, "world_size": str(processes.world_size)}
        with tracked_run(config.tracking, name, params, tags) as run:
            result = run_training(
                config, processes, lambda step, metrics: mlflow.log_metrics(metrics, step=step), trainer
            )
            report(result)
            log.info("MLflow run %s in %s", run.info.run_id, mask_credentials(config.tracking.uri))
        return result.last_loss
    finally:
        stop_processes()


def report(result: TrainResult) -> None:
    """Log the run's outcome: paths as parameters, the backbone as an artifact, a summary line."""
    mlflow.log_params(
        {
            "result.checkpoint": str(result.checkpoint),
            "result.backbone": str(result.backbone_path),
        }
    )
    mlflow.log_metrics(
        {"train_seconds": result.seconds, "first_loss": result.first_loss, "last_loss": result.last_loss}
    )
    if result.backbone_path is not None:
        mlflow.log_artifact(str(result.backbone_path))
    accuracy = ", ".join(
        f"{name} {100 * result.accuracy_before[name]:.2f} -> {100 * value:.2f} %"
        for name, value in result.accuracy_after.items()
    )
    print(
        f"{result.steps} steps in {result.seconds:.0f} s; loss {result.first_loss:.3f} -> "
        f"{result.last_loss:.3f}; validation: {accuracy}; backbone {result.backbone_path}"
    )


def main(argv: list[str] | None = None) -> None:
    """``bench train ARGS``: Hydra reads ``sys.argv``, so the tool's arguments take its place."""
    import sys

    if argv is not None:
        sys.argv = [f"{sys.argv[0]} train", *argv]
    prepare()
    app()


if __name__ == "__main__":
    main()
