"""A verification data set: an image folder and the pairs to compare."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from bench.assets import resolve
from bench.config import (
    BinDatasetConfig,
    CsvPairsDatasetConfig,
    DatasetConfig,
    IjbDatasetConfig,
    LfwDatasetConfig,
    OnMissing,
)
from bench.data.bin_set import unpack_bin
from bench.data.csv_pairs import dealt_fold_advice, parse_csv_pairs
from bench.data.files import check_images_exist
from bench.data.ijb import IjbProtocol, load_ijb
from bench.data.pairs import Pair, check_scorable, parse_lfw_pairs, select_pairs


@dataclass(frozen=True)
class PairDataset:
    name: str
    image_root: Path
    pairs: list[Pair]
    #: True when the images are already aligned 112x112 faces (``detector=none``).
    aligned: bool = False

    @property
    def images(self) -> list[str]:
        """Every image the pairs use, once, in first-use order (the runner processes each once, or
        twice when one side of each pair is degraded: ``bench.pipeline.entries``)."""
        return list(dict.fromkeys(path for pair in self.pairs for path in (pair.image_a, pair.image_b)))

    @property
    def labels(self) -> np.ndarray:
        return np.array([pair.same for pair in self.pairs], dtype=np.int64)

    @property
    def folds(self) -> np.ndarray:
        return np.array([pair.fold for pair in self.pairs], dtype=np.int64)


@dataclass(frozen=True, eq=False)
class TemplateDataset:
    """IJB-B/C: every loose crop once, its faces compared as templates (``bench.data.ijb``)."""

    name: str
    protocol: IjbProtocol
    #: Weigh each image's embedding by its detector score in its template (insightface's default).
    detector_score_weighting: bool = True
    aligned: bool = False

    @property
    def image_root(self) -> Path:
        return self.protocol.files.images

    @property
    def images(self) -> list[str]:
        """Every loose crop, in the meta files' order."""
        return list(self.protocol.image_names)

    def given_landmarks(self, path: str) -> tuple[np.ndarray, float]:
        """The release's five points (``FIVE_POINTS`` order, loose-crop pixels) and detector
        score for the crop ``path``."""
        index = self._index[path]
        return self.protocol.landmarks[index], float(self.protocol.detector_scores[index])

    @cached_property
    def _index(self) -> dict[str, int]:
        return {name: index for index, name in enumerate(self.protocol.image_names)}


#: What a ``dataset`` config loads into.
Dataset = PairDataset | TemplateDataset


def load_dataset(cfg: DatasetConfig) -> Dataset:
    """Build the data set a ``dataset`` config describes: a CSV protocol over any image folder
    (``CsvPairsDatasetConfig``), an LFW ``pairs.txt`` over an asset folder, an insightface
    ``.bin`` (``BinDatasetConfig``, unpacked once into the asset cache), or IJB-B/C's templates
    (``IjbDatasetConfig``). Every protocol
    error, selected pairs that cannot be scored, and every missing image of the pairs selected to
    run unless ``on_missing=count``, are raised here, before any image is read or model loads."""
    if isinstance(cfg, IjbDatasetConfig):
        root = Path(cfg.root).expanduser()
        if not root.is_dir():
            raise FileNotFoundError(f"dataset.root: {root} is not a folder (IJB's meta/ and loose_crop/)")
        protocol = load_ijb(root, str(cfg.target), check_images=cfg.on_missing is OnMissing.error)
        return TemplateDataset(cfg.name, protocol, cfg.detector_score_weighting)
    if isinstance(cfg, CsvPairsDatasetConfig):
        image_root = Path(cfg.root).expanduser()
        protocol = Path(cfg.pairs_csv).expanduser()
        if not image_root.is_dir():
            raise FileNotFoundError(f"dataset.root: {image_root} is not a folder")
        if not protocol.is_file():
            raise FileNotFoundError(f"dataset.pairs_csv: {protocol} is not a file")
        pairs = parse_csv_pairs(protocol, cfg.num_folds)
        fold_advice = dealt_fold_advice(pairs, cfg.num_folds)
    elif isinstance(cfg, LfwDatasetConfig):
        image_root = resolve(cfg.images, cfg.images_path)
        protocol = resolve(cfg.pairs, cfg.pairs_path)
        pairs = parse_lfw_pairs(protocol)
        fold_advice = ""
    elif isinstance(cfg, BinDatasetConfig):
        protocol = Path(cfg.path).expanduser()
        if not protocol.is_file():
            raise FileNotFoundError(f"dataset.path: {protocol} is not a file (an insightface .bin)")
        image_root, pairs = unpack_bin(protocol)
        fold_advice = ""
    else:
        raise TypeError(f"no loader for a {type(cfg).__name__}")
    pairs = select_pairs(pairs, cfg.folds, cfg.pairs_per_fold)
    check_scorable(protocol, pairs, fold_advice)
    check_images_exist(protocol, image_root, pairs, cfg.on_missing)
    return PairDataset(cfg.name, image_root, pairs, aligned=cfg.aligned)
