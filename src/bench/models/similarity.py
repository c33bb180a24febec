"""How two embeddings are compared, one entry per measure a recognition family declares
(``ModelFamily.similarity``). A score is always "higher means more alike", so every metric,
threshold and report works on any family's scores unchanged."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Similarity:
    name: str
    #: Whether embeddings are L2-normalised before scoring (cosine) or compared raw (dlib's
    #: Euclidean distance was learnt on raw descriptors).
    unit_length: bool
    #: Row-wise score of two ``(N, D)`` arrays; NaN where either row is NaN.
    rows: Callable[[np.ndarray, np.ndarray], np.ndarray]
    #: How a score reads in a sentence (``bench verify``).
    label: str
    #: The least and greatest score two embeddings can get: a threshold outside decides nothing.
    least: float
    greatest: float

    def reaches(self, score: float) -> bool:
        """Whether two embeddings can score ``score`` (a finite value within the range)."""
        return math.isfinite(score) and self.least <= score <= self.greatest

    @property
    def interval(self) -> str:
        """``[-1, 1]``, ``(-inf, 0]``: the range, written as an interval."""
        least = "(-inf" if math.isinf(self.least) else f"[{self.least:g}"
        return f"{least}, {self.greatest:g}]"


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", a, b)


def _negative_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return -np.linalg.norm(a - b, axis=1)


SIMILARITIES: dict[str, Similarity] = {
    "cosine": Similarity("cosine", True, _cosine, "cosine", -1.0, 1.0),
    "euclidean": Similarity(
        "euclidean", False, _negative_distance, "minus the Euclidean distance", -math.inf, 0.0
    ),
}


def similarity_named(name: str) -> Similarity:
    try:
        return SIMILARITIES[name]
    except KeyError:
        raise ValueError(f"unknown similarity {name!r}; known: {sorted(SIMILARITIES)}") from None
