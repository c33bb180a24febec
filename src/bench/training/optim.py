"""The optimiser and its learning-rate schedule: a linear warm-up, then polynomial decay to 0 at
the last step (insightface's ``PolyScheduler``), stepped once per optimiser step."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch.optim.lr_scheduler import LambdaLR

from bench.config.enums import OptimizerName
from bench.config.training import OptimizerConfig


def build_optimizer(
    parameters: Iterable[torch.nn.Parameter], config: OptimizerConfig
) -> torch.optim.Optimizer:
    """SGD with momentum or AdamW over ``parameters`` (backbone and head together)."""
    if config.name is OptimizerName.sgd:
        return torch.optim.SGD(
            parameters, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
        )
    return torch.optim.AdamW(parameters, lr=config.lr, weight_decay=config.weight_decay)


def poly_warmup(optimizer: torch.optim.Optimizer, config: OptimizerConfig, steps: int) -> LambdaLR:
    """The factor on the base rate at step ``t``: ``t / warmup`` while warming up, then
    ``(1 - (t - warmup) / (steps - warmup)) ** power``, 0 at ``steps``."""
    warmup = min(config.warmup_steps, steps)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        remaining = max(steps - warmup, 1)
        return max(0.0, 1 - (step - warmup) / remaining) ** config.power

    return LambdaLR(optimizer, factor)
