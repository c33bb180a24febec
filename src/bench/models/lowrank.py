"""The low-rank linear factorisation EdgeFace uses (its "gamma" variants).

EdgeFace (George et al., 2024) replaces every ``nn.Linear`` ``W: in -> out`` by two thinner
layers ``in -> r -> out``; the published state dicts name them ``linear1``/``linear2``, so the
module layout here must match theirs exactly for a strict load.
"""

from __future__ import annotations

import torch
from torch import nn


def low_rank(in_features: int, out_features: int, rank_ratio: float) -> int:
    """The inner width EdgeFace uses: ``max(2, int(min(in, out) * rank_ratio))``."""
    return max(2, int(min(in_features, out_features) * rank_ratio))


class LowRankLinear(nn.Module):
    """``linear2(linear1(x))``: ``linear1`` is ``in -> r`` without bias, ``linear2`` is ``r -> out``."""

    def __init__(self, in_features: int, out_features: int, rank_ratio: float, bias: bool = True) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.rank = low_rank(in_features, out_features, rank_ratio)
        self.linear1 = nn.Linear(in_features, self.rank, bias=False)
        self.linear2 = nn.Linear(self.rank, out_features, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear2(self.linear1(x))

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, rank={self.rank}"


def replace_linear_with_low_rank(module: nn.Module, rank_ratio: float) -> nn.Module:
    """Replace, recursively and in place, every ``nn.Linear`` not held under the attribute ``head``.

    The name test is on the attribute itself, as upstream does it: timm's EdgeNeXt keeps its
    classifier as ``head.fc``, whose attribute name is ``fc``, so it *is* factorised (the
    checkpoints hold ``model.head.fc.linear1.weight``). Returns ``module`` for chaining.
    """
    for name, child in module.named_children():
        if isinstance(child, nn.Linear) and name != "head":
            replacement = LowRankLinear(
                child.in_features, child.out_features, rank_ratio, bias=child.bias is not None
            )
            setattr(module, name, replacement.to(device=child.weight.device, dtype=child.weight.dtype))
        else:
            replace_linear_with_low_rank(child, rank_ratio)
    return module
