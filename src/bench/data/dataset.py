"""A verification data set: an image folder and the pairs to compare."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.assets import resolve
from bench.data.pairs import Pair, parse_lfw_pairs, select_pairs


@dataclass(frozen=True)
class PairDataset:
    name: str
    image_root: Path
    pairs: list[Pair]
    #: True when the images are already aligned 112x112 faces (``detector=none``).
    aligned: bool = False

    @property
    def images(self) -> list[str]:
        """Every image the pairs use, once, in first-use order: each is processed once."""
        return list(dict.fromkeys(path for pair in self.pairs for path in (pair.image_a, pair.image_b)))

    def pair_indices(self) -> tuple[np.ndarray, np.ndarray]:
        """Indices into ``images`` of each pair's two images."""
        index = {path: i for i, path in enumerate(self.images)}
        return (
            np.array([index[pair.image_a] for pair in self.pairs], dtype=np.int64),
            np.array([index[pair.image_b] for pair in self.pairs], dtype=np.int64),
        )

    @property
    def labels(self) -> np.ndarray:
        return np.array([pair.same for pair in self.pairs], dtype=np.int64)

    @property
    def folds(self) -> np.ndarray:
        return np.array([pair.fold for pair in self.pairs], dtype=np.int64)


def load_dataset(cfg: Mapping[str, Any]) -> PairDataset:
    """Build the data set a ``dataset`` config group option describes."""
    image_root = resolve(cfg["images"], cfg.get("images_path"))
    pairs_file = resolve(cfg["pairs"], cfg.get("pairs_path"))
    pairs = select_pairs(parse_lfw_pairs(pairs_file), cfg.get("folds"), cfg.get("pairs_per_fold"))
    return PairDataset(cfg["name"], image_root, pairs, aligned=bool(cfg.get("aligned", False)))
