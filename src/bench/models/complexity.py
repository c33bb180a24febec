"""Parameters and FLOPs of an EdgeFace layout, as the EdgeFace paper counts them.

PyTorch's ``torch.utils.flop_counter`` counts a multiply-add as two FLOPs, in convolutions and
matrix products (not in normalisations or activations); counted so on one 112x112 face, every
published layout comes within 0.2 % of the paper's MFLOPs, so the paper counts the same way
(``tests/test_complexity.py``). A dynamic int8 model has its float layout's arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch
from torch.utils.flop_counter import FlopCounterMode

from bench.models.edgeface import INPUT_SIZE, build_edgeface, count_parameters

#: George et al., "EdgeFace" (2024), parameters (millions) and MFLOPs of the published models.
PUBLISHED: dict[str, tuple[float, float]] = {
    "edgeface_base": (18.23, 1398.83),
    "edgeface_s_gamma_05": (3.65, 306.12),
    "edgeface_xs_gamma_06": (1.77, 154.00),
    "edgeface_xxs": (1.24, 94.72),
}


@dataclass(frozen=True)
class Complexity:
    parameters: int
    #: For one face; a multiply-add is two.
    flops: int


@lru_cache(maxsize=16)
def complexity(arch: str, rank_ratio: float | None = None) -> Complexity:
    """Count ``arch`` (with its low-rank factor) on one face; no weights are needed."""
    model = build_edgeface(arch, rank_ratio)
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, 3, INPUT_SIZE, INPUT_SIZE))
    return Complexity(count_parameters(model), counter.get_total_flops())
