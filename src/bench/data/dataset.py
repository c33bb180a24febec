"""A verification data set: an image folder and the pairs to compare."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import MISSING, MissingMandatoryValue

from bench.assets import resolve
from bench.data.csv_pairs import parse_csv_pairs
from bench.data.files import OnMissing, check_images_exist
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
    """Build the data set a ``dataset`` config group option describes: a CSV protocol
    (``pairs_csv``) over any image folder (``root``), or an LFW ``pairs.txt`` over an asset
    folder. Every protocol error, and every missing image of the pairs selected to run unless
    ``on_missing=count``, is raised here, before any model loads."""
    on_missing = _on_missing(cfg.get("on_missing", OnMissing.ERROR))
    if "pairs_csv" in cfg.keys():  # noqa: SIM118 (DictConfig's ``in`` is False for ``???``)
        image_root = Path(_mandatory(cfg, "root")).expanduser()
        protocol = Path(_mandatory(cfg, "pairs_csv")).expanduser()
        if not image_root.is_dir():
            raise FileNotFoundError(f"dataset.root: {image_root} is not a folder")
        if not protocol.is_file():
            raise FileNotFoundError(f"dataset.pairs_csv: {protocol} is not a file")
        pairs = parse_csv_pairs(protocol, cfg.get("num_folds", 10))
    else:
        image_root = resolve(cfg["images"], cfg.get("images_path"))
        protocol = resolve(cfg["pairs"], cfg.get("pairs_path"))
        pairs = parse_lfw_pairs(protocol)
    pairs = select_pairs(pairs, cfg.get("folds"), cfg.get("pairs_per_fold"))
    check_images_exist(protocol, image_root, pairs, on_missing)
    return PairDataset(cfg["name"], image_root, pairs, aligned=bool(cfg.get("aligned", False)))


def _mandatory(cfg: Mapping[str, Any], key: str) -> Any:
    """A key the config marks ``???``: OmegaConf raises on access, a resolved dict keeps ``???``."""
    value = cfg[key]
    if value is None or value == MISSING:
        raise MissingMandatoryValue(f"Missing mandatory value: dataset.{key} (set dataset.{key}=...)")
    return value


def _on_missing(value: str) -> OnMissing:
    try:
        return OnMissing(value)
    except ValueError:
        choices = ", ".join(OnMissing)
        raise ValueError(f"dataset.on_missing must be one of {choices}, got {value!r}") from None
