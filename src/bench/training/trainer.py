"""One training run: an EdgeFace backbone and a Partial FC margin head, stepped by the optimiser
over the training faces, on one process or as one of ``torchrun``'s.

Everything a step depends on is state that a checkpoint keeps (weights, head shard with its
sampling generator, optimiser, schedule, gradient scaler, data position, random generators), so
a run stopped after step k and resumed takes the same steps k+1... as one never stopped
(bit for bit with ``deterministic=true`` on the CPU). With several processes each embeds its
share of the global batch; the head gathers all of them, and the backbone's gradients are
summed (``distributed.sum_gradients``), so n processes take the steps one process would take on
the same global batch.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from bench.config import ModelConfig
from bench.config.training import BackboneConfig, TrainConfig
from bench.models import model_layout
from bench.models.edgeface import EMBEDDING_DIM, build_edgeface, load_state_dict_file, weights_path
from bench.training.checkpoint import (
    checkpoint_dir,
    load_checkpoint,
    random_states,
    restore_random_states,
    save_checkpoint,
)
from bench.training.data import build_train_loader
from bench.training.distributed import Processes, sum_gradients
from bench.training.losses import CombinedMarginLoss
from bench.training.optim import build_optimizer, poly_warmup
from bench.training.partial_fc import PartialFC
from bench.training.sets import open_training_set
from bench.training.validation import ValidationSet, load_validation_set, validate

#: ``(step, metrics)``: where the run's figures go (MLflow on the main process).
MetricsSink = Callable[[int, dict[str, float]], None]


@dataclass(frozen=True)
class TrainResult:
    steps: int
    #: The mean loss of the first and of the last ``log_every`` steps.
    first_loss: float
    last_loss: float
    #: Validation accuracy per set before the first step and after the last (main process).
    accuracy_before: dict[str, float]
    accuracy_after: dict[str, float]
    seconds: float
    backbone_path: Path | None
    checkpoint: Path | None


def seed_everything(seed: int, deterministic: bool) -> None:
    """The same initial weights on every process, and, on request, deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False


def build_backbone(config: BackboneConfig) -> nn.Module:
    """The EdgeFace layout, untrained or with its starting weights."""
    arch, rank_ratio, quantized = model_layout(
        ModelConfig(name=config.name, arch=config.arch, rank_ratio=config.rank_ratio)
    )
    if quantized:
        raise ValueError(
            f"{config.name} is an int8 model; train its float layout (edgeface_xs_gamma_06, ...)"
        )
    model = build_edgeface(arch, rank_ratio)
    start = config.weights or (weights_path(config.name) if config.pretrained else None)
    if start is not None:
        model.load_state_dict(load_state_dict_file(start), strict=True)
    return model.train()


class Trainer:
    def __init__(self, config: TrainConfig, processes: Processes) -> None:
        self.config = config
        self.processes = processes
        device = processes.device
        seed_everything(config.seed, config.deterministic)
        dataset, self.num_classes = open_training_set(config.data)
        self.num_samples = len(dataset)  # type: ignore[arg-type]
        self.backbone = build_backbone(config.backbone).to(device)
        self.model: nn.Module = self.backbone
        if processes.world_size > 1:
            ids = [device.index] if device.type == "cuda" else None
            self.model = DistributedDataParallel(self.backbone, device_ids=ids)
            self.model.register_comm_hook(None, sum_gradients)
        loss = config.loss
        margin = CombinedMarginLoss(loss.s, loss.m1, loss.m2, loss.m3, loss.interclass_filtering_threshold)
        self.head = PartialFC(margin, EMBEDDING_DIM, self.num_classes, loss.sample_rate, seed=config.seed).to(
            device
        )
        self.optimizer = build_optimizer(
            [*self.backbone.parameters(), *self.head.parameters()], config.optimizer
        )
        self.scheduler = poly_warmup(self.optimizer, config.optimizer, config.steps)
        self.amp = config.amp and device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.loader = build_train_loader(
            dataset, config.batch_size, config.data.workers, config.seed, processes.rank, processes.world_size
        )
        if len(self.loader) == 0:
            raise ValueError(
                f"{self.num_samples} training faces make no batch of {config.batch_size} per process "
                f"on {processes.world_size} process(es): lower batch_size"
            )
        self.step = self.epoch = self.batch_in_epoch = 0

    # -- checkpoints --------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "world_size": self.processes.world_size,
            "backbone": self.backbone.state_dict(),
            "head": self.head.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "random": random_states(),
        }

    def resume(self, directory: Path) -> None:
        state = load_checkpoint(directory, self.processes.rank, self.processes.world_size)
        self.backbone.load_state_dict(state["backbone"])
        self.head.load_state_dict(state["head"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        restore_random_states(state["random"])
        self.step, self.epoch, self.batch_in_epoch = state["step"], state["epoch"], state["batch_in_epoch"]

    def save(self, output_dir: Path) -> Path:
        directory = checkpoint_dir(output_dir, self.step)
        save_checkpoint(directory, self.processes.rank, self.state())
        self.processes.barrier()
        return directory

    # -- steps --------------------------------------------------------------------------------

    def batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The training batches from the current position on, epoch after epoch."""
        sampler = self.loader.sampler
        while True:
            sampler.set_epoch(self.epoch, start_batch=self.batch_in_epoch)  # type: ignore[attr-defined]
            for images, labels in self.loader:
                self.batch_in_epoch += 1
                yield images, labels
            self.epoch, self.batch_in_epoch = self.epoch + 1, 0

    def train_step(self, images: torch.Tensor, labels: torch.Tensor) -> float:
        device = self.processes.device
        images = images.to(device, non_blocking=True)
        labels = labels.to(device, non_blocking=True)
        with torch.autocast(device.type, enabled=self.amp):
            loss = self.head(self.model(images), labels)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.config.optimizer.clip_grad_norm is not None:
            # The backbone's gradients only, as insightface clips: they are whole on every process
            # after the all-reduce, while the head's are sharded, so each process's norm would differ.
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.backbone.parameters(), self.config.optimizer.clip_grad_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.step += 1
        return float(loss.detach())


def prepare_training(config: TrainConfig, processes: Processes) -> Trainer:
    """The trainer with its data opened and checked, resumed from ``resume`` if set: whatever
    the data or the checkpoint makes refused is refused here, before a run is logged."""
    trainer = Trainer(config, processes)
    if config.resume:
        trainer.resume(Path(config.resume))
    return trainer


def run_training(
    config: TrainConfig, processes: Processes, log: MetricsSink, trainer: Trainer | None = None
) -> TrainResult:
    """Train as ``config`` says from its start (or ``resume``) to ``steps`` (or ``stop_after``),
    logging through ``log`` and validating on the main process; returns what it measured.
    ``trainer`` is ``prepare_training``'s, when the caller checked the inputs first."""
    started = time.perf_counter()
    trainer = trainer if trainer is not None else prepare_training(config, processes)
    # Every process writes its checkpoint shard into the first one's run dir: a Hydra run dir
    # named by the clock could differ by a second between processes.
    output_dir = Path(processes.from_main(config.output_dir))
    sets: list[ValidationSet] = []
    if processes.is_main:
        sets = [load_validation_set(spec, config.validation_pairs_per_fold) for spec in config.validation]

    def validation() -> dict[str, float]:
        accuracy = {}
        if processes.is_main:
            accuracy = {data.name: validate(trainer.backbone, data, processes.device) for data in sets}
            trainer.backbone.train()
            log(trainer.step, {f"val_accuracy_{name}": value for name, value in accuracy.items()})
        processes.barrier()
        return accuracy

    before = validation()
    last = config.stop_after or config.steps
    global_batch = config.batch_size * processes.world_size
    losses: list[float] = []
    first_loss = last_loss = float("nan")
    checkpoint = None
    window_start = time.perf_counter()
    batches = trainer.batches()
    while trainer.step < last:
        losses.append(trainer.train_step(*next(batches)))
        step = trainer.step
        if step % config.log_every == 0 or step == last:
            elapsed = time.perf_counter() - window_start
            mean = float(np.mean(losses))
            first_loss = mean if np.isnan(first_loss) else first_loss
            last_loss = mean
            rate = len(losses) * global_batch / elapsed
            log(step, {"loss": mean, "lr": trainer.scheduler.get_last_lr()[0], "samples_per_s": rate})
            losses, window_start = [], time.perf_counter()
        if config.checkpoint_every and step % config.checkpoint_every == 0 and step != last:
            checkpoint = trainer.save(output_dir)
        if config.validate_every and step % config.validate_every == 0 and step != last:
            validation()
    checkpoint = trainer.save(output_dir)
    after = validation()
    backbone_path = None
    if processes.is_main:
        backbone_path = output_dir / "backbone.pt"
        torch.save(trainer.backbone.state_dict(), backbone_path)
    return TrainResult(
        steps=trainer.step,
        first_loss=first_loss,
        last_loss=last_loss,
        accuracy_before=before,
        accuracy_after=after,
        seconds=time.perf_counter() - started,
        backbone_path=backbone_path,
        checkpoint=checkpoint,
    )
