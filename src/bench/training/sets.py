"""The training set a ``data`` config names, with the identities it keeps labelled 0..K-1."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from bench.assets import ASSETS, resolve
from bench.config.enums import TrainDataKind
from bench.config.training import TrainDataConfig
from bench.training.data import ImageFolderDataset, TrainingDataError
from bench.training.recordio import RecordDataset


class Identities(Dataset[tuple[np.ndarray, int]]):
    """An image folder's samples of the identities with at least ``min_images`` faces, the first
    ``max_identities`` of them (in the folder's sorted order), relabelled 0..K-1."""

    def __init__(self, folder: ImageFolderDataset, min_images: int, max_identities: int | None) -> None:
        labels = np.array([label for _, label in folder.samples])
        counts = np.bincount(labels, minlength=len(folder.identities))
        kept = np.flatnonzero(counts >= min_images)[:max_identities]
        if kept.size < 2:
            raise TrainingDataError(
                f"{folder.root}: {kept.size} identities have at least {min_images} images; training "
                "needs two or more (lower data.min_images)"
            )
        relabel = {int(old): new for new, old in enumerate(kept)}
        self.folder = folder
        self.indices = [index for index, label in enumerate(labels) if int(label) in relabel]
        self.labels = [relabel[int(labels[index])] for index in self.indices]
        self.num_classes = int(kept.size)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        image, _ = self.folder[self.indices[index]]
        return image, self.labels[index]


def open_training_set(config: TrainDataConfig) -> tuple[Dataset[tuple[np.ndarray, int]], int]:
    """The training samples and their number of classes."""
    path = resolve(config.path) if config.path in ASSETS else Path(config.path).expanduser()
    if config.kind is TrainDataKind.folder:
        folder = Identities(ImageFolderDataset(path), config.min_images, config.max_identities)
        return folder, folder.num_classes
    if config.min_images != 1 or config.max_identities is not None:
        raise TrainingDataError(
            "data.min_images and data.max_identities select identities of an image folder"
        )
    records = RecordDataset(path)
    if records.identity_keys is None:
        raise TrainingDataError(
            f"{path}.rec has no insightface header (record 0) giving its identities; pack it with "
            "python -m bench.training.recordio pack"
        )
    return records, len(records.identity_keys)
