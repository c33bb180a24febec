"""The quality signals measured while a face is embedded: from its aligned crop and from the
network. Unlike the face's own signals (its score, its landmarks), which the cached detection
gives back, these need the crop and a forward pass, so a run stores them beside the embedding
and a warm run reads them back: no value depends on whether the cache was warm."""

from __future__ import annotations

import numpy as np
import torch

from bench.models.embedder import Embedded
from bench.quality.signals import sharpness

#: The measured signals, in the order of a cached row.
MEASURED = ("sharpness", "embedding_norm", "mirror_agreement")


def measured_rows(faces: np.ndarray | torch.Tensor, embedded: Embedded) -> np.ndarray:
    """``(N, len(MEASURED))`` float32: each face's measured signals; NaN where not measured
    (``mirror_agreement`` unless asked for)."""
    crops = faces.cpu().numpy() if isinstance(faces, torch.Tensor) else faces
    rows = np.full((len(crops), len(MEASURED)), np.nan, dtype=np.float32)
    rows[:, 0] = [sharpness(crop) for crop in crops]
    rows[:, 1] = embedded.norms
    if embedded.mirror_agreement is not None:
        rows[:, 2] = embedded.mirror_agreement
    return rows


def as_signals(row: np.ndarray) -> dict[str, float]:
    return {name: float(value) for name, value in zip(MEASURED, row, strict=True)}
