"""The images a run processes, as its protocol lists them (``bench.pipeline.protocols``): each
data-set image once, or twice when one side of each pair is degraded and the other is not
(``stress.sides=one``). IJB's templates are not pairs of images: the pair indices are empty."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ImageEntry:
    path: str
    #: Degraded by the run's stress condition before detection.
    stressed: bool


@dataclass(frozen=True)
class ImageEntries:
    entries: list[ImageEntry]
    #: Each pair's two entries, as indices into ``entries``.
    index_a: np.ndarray
    index_b: np.ndarray
