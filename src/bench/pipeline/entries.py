"""The images a run processes: each data-set image once, or twice when one side of each pair
is degraded and the other is not (``stress.sides=one``). IJB's templates are not pairs of
images: each of their images is one entry, and the pair indices are empty."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.config import StressConfig, StressSides
from bench.data import Dataset, TemplateDataset


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


def image_entries(dataset: Dataset, stress: StressConfig) -> ImageEntries:
    """Every entry the pairs use, once, in first-use order. With ``sides=one`` the first image of
    each pair is degraded and the second is not, so an image used in both places is two entries."""
    if isinstance(dataset, TemplateDataset):
        none = np.empty(0, dtype=np.int64)
        return ImageEntries([ImageEntry(path, stress.active) for path in dataset.images], none, none)
    sides = (stress.active, stress.active and stress.sides is StressSides.both)
    position: dict[ImageEntry, int] = {}
    index_a, index_b = [], []
    for pair in dataset.pairs:
        for path, stressed, indices in ((pair.image_a, sides[0], index_a), (pair.image_b, sides[1], index_b)):
            indices.append(position.setdefault(ImageEntry(path, stressed), len(position)))
    return ImageEntries(list(position), np.array(index_a, dtype=np.int64), np.array(index_b, dtype=np.int64))
