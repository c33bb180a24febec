"""The typed configuration of ``python -m bench.train`` (``conf/train.yaml``): the backbone, the
margin loss with its Partial FC head, the optimiser and the training data, as Hydra groups on
the same ``conf/`` tree as the benchmark, checked like it at composition."""

from __future__ import annotations

from dataclasses import dataclass, field

from omegaconf import MISSING

from bench.config.enums import Device, MarginLoss, OptimizerName, TrainDataKind
from bench.config.schema import TrackingConfig
from bench.config.validate import require


@dataclass
class BackboneConfig:
    """An EdgeFace layout (``bench.models.VARIANTS`` by ``name``, or ``arch``/``rank_ratio``)."""

    name: str = MISSING
    arch: str | None = None
    rank_ratio: float | None = None
    #: Start from the published weights of ``name`` (through the asset resolver).
    pretrained: bool = False
    #: Start from this state dict instead (a ``.pt`` of the same layout); ``null``: as above.
    weights: str | None = None

    def __post_init__(self) -> None:
        require(
            not (self.pretrained and self.weights),
            "backbone.weights",
            "and backbone.pretrained=true both name the starting weights: give one",
            self.weights,
        )


@dataclass
class LossConfig:
    """insightface's combined margin ``cos(m1 * theta + m2) - m3``, scaled by ``s``, over a
    Partial FC head that samples ``sample_rate`` of the class centres each step."""

    name: MarginLoss = MISSING
    s: float = 64.0
    m1: float = 1.0
    m2: float = 0.5
    m3: float = 0.0
    sample_rate: float = 1.0
    interclass_filtering_threshold: float = 0.0

    def __post_init__(self) -> None:
        require(self.s > 0, "loss.s", "must be > 0", self.s)
        require(0 < self.sample_rate <= 1, "loss.sample_rate", "must lie in (0, 1]", self.sample_rate)


@dataclass
class OptimizerConfig:
    """SGD or AdamW with a linear warm-up, then polynomial decay to 0 at the last step."""

    name: OptimizerName = MISSING
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    warmup_steps: int = 0
    power: float = 2.0
    #: Clip the backbone's gradient norm to this (as insightface); ``null``: no clipping.
    clip_grad_norm: float | None = 5.0

    def __post_init__(self) -> None:
        require(self.lr > 0, "optimizer.lr", "must be > 0", self.lr)
        require(self.warmup_steps >= 0, "optimizer.warmup_steps", "must be >= 0", self.warmup_steps)
        if self.clip_grad_norm is not None:
            require(
                self.clip_grad_norm > 0,
                "optimizer.clip_grad_norm",
                "must be > 0 or null",
                self.clip_grad_norm,
            )


@dataclass
class TrainDataConfig:
    """Aligned 112x112 faces: an image folder (a folder per identity) or insightface's RecordIO."""

    kind: TrainDataKind = MISSING
    #: The folder, or the RecordIO prefix (``.../train`` for ``train.rec``/``train.idx``).
    path: str = MISSING
    #: Keep only the first ``max_identities`` identities (sorted): a quick run; ``null``: all.
    max_identities: int | None = None
    #: Keep identities with at least this many images.
    min_images: int = 1
    workers: int = 2

    def __post_init__(self) -> None:
        require(self.workers >= 0, "data.workers", "must be >= 0", self.workers)
        require(self.min_images >= 1, "data.min_images", "must be >= 1", self.min_images)


@dataclass
class TrainConfig:
    backbone: BackboneConfig = MISSING
    loss: LossConfig = MISSING
    optimizer: OptimizerConfig = MISSING
    data: TrainDataConfig = MISSING
    tracking: TrackingConfig = MISSING
    device: Device = Device.cpu
    #: Optimiser steps in all; the schedule decays to 0 at the last.
    steps: int = 1000
    #: Faces per step on each process (the global batch is this times the number of processes).
    batch_size: int = 128
    seed: int = 0
    #: Deterministic kernels (``torch.use_deterministic_algorithms``): reproducible to the bit.
    deterministic: bool = False
    #: Mixed precision on CUDA (ignored on the CPU, which trains in fp32).
    amp: bool = True
    log_every: int = 10
    #: Save a checkpoint every this many steps (and at the end); 0: only at the end.
    checkpoint_every: int = 0
    #: Validate every this many steps (and before the first and after the last); 0: only those two.
    validate_every: int = 0
    #: Validation sets: ``lfw_aligned`` (LFW View 2 on the reference faces) or ``.bin`` files.
    validation: list[str] = field(default_factory=lambda: ["lfw_aligned"])
    #: A quick validation: the first n/2 same and n/2 different pairs of each fold.
    validation_pairs_per_fold: int | None = None
    #: A checkpoint to continue from (``checkpoints/step_N.pt`` of an earlier run).
    resume: str | None = None
    #: Stop after this step, as if interrupted (the restart test); ``null``: run to ``steps``.
    stop_after: int | None = None
    #: Where checkpoints go (the Hydra run dir by default).
    output_dir: str = "."

    def __post_init__(self) -> None:
        for key in ("steps", "batch_size", "log_every"):
            require(getattr(self, key) >= 1, key, "must be >= 1", getattr(self, key))
        for key in ("checkpoint_every", "validate_every"):
            require(getattr(self, key) >= 0, key, "must be >= 0", getattr(self, key))
        if self.stop_after is not None:
            require(
                1 <= self.stop_after <= self.steps, "stop_after", "must lie in [1, steps]", self.stop_after
            )
