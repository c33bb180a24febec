"""Training data: aligned faces, the training transform, and a loader a run can resume mid-epoch.

The loader shards the data over the processes with ``DistributedSampler`` (a new shuffle each
epoch, from the seed and the epoch) and can start an epoch at any batch, so a resumed run sees
exactly the batches the interrupted one had left. Each sample's flip is drawn from its own
generator, seeded by (seed, epoch, index): the batches do not depend on the number of workers,
on which worker loads a sample, or on a resumption.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator, Sized
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler
from torch.utils.data.distributed import DistributedSampler

from bench.data.images import decode_image_bytes, read_image_bytes

#: The side of insightface's aligned faces, the only input size the backbones train on.
FACE_SIZE = 112
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
#: Refuse a (hostile or mistaken) huge image before decoding it; a face is checked exactly after.
_MAX_PIXELS = 4096 * 4096


class TrainingDataError(ValueError):
    """An image folder or image that cannot be training data: no identities, a wrong size."""


def decode_face(data: bytes, name: Path) -> np.ndarray:
    """``data`` decoded to ``112x112x3`` uint8 RGB; another size is an error naming ``name``
    (a face aligned to another template, or not aligned, would train silently on garbage)."""
    image = decode_image_bytes(data, name, _MAX_PIXELS)
    if image.shape != (FACE_SIZE, FACE_SIZE, 3):
        height, width = image.shape[:2]
        raise TrainingDataError(
            f"{name}: {width}x{height} pixels; training needs aligned {FACE_SIZE}x{FACE_SIZE} faces"
        )
    return image


class ImageFolderDataset(Dataset[tuple[np.ndarray, int]]):
    """A folder per identity of aligned 112x112 faces (JPEG or PNG) as ``(image, label)``:
    ``HxWx3`` uint8 RGB and the identity's index. Identities are sorted by folder name and images
    by file name (torchvision's ``ImageFolder`` order), so a folder and its packed RecordIO
    (``recordio.pack_image_folder``) hold the same samples in the same order."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise TrainingDataError(f"{self.root}: not a folder")
        #: The identity of label ``i`` is ``identities[i]``.
        self.identities = sorted(entry.name for entry in os.scandir(self.root) if entry.is_dir())
        if not self.identities:
            raise TrainingDataError(
                f"{self.root}: no identity folders (one sub-folder of faces per identity)"
            )
        self.samples: list[tuple[Path, int]] = []
        for label, identity in enumerate(self.identities):
            names = sorted(
                entry.name
                for entry in os.scandir(self.root / identity)
                if entry.is_file() and os.path.splitext(entry.name)[1].lower() in IMAGE_EXTENSIONS
            )
            if not names:
                raise TrainingDataError(f"{self.root / identity}: no images ({', '.join(IMAGE_EXTENSIONS)})")
            self.samples += [(self.root / identity / name, label) for name in names]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        path, label = self.samples[index]
        return decode_face(read_image_bytes(path, self.root), path), label


def train_transform(image: np.ndarray, generator: torch.Generator | None = None) -> torch.Tensor:
    """The training tensor of an ``HxWx3`` uint8 RGB face, as arcface_torch makes it: flipped
    left-right with probability 1/2 (drawn from ``generator``; ``None``: torch's global one, a
    DataLoader worker's seeded one), then ``(x / 255 - 0.5) / 0.5``, float32 ``3xHxW``."""
    if torch.rand((), generator=generator) < 0.5:
        image = image[:, ::-1]
    pixels = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float()
    return (pixels / 255 - 0.5) / 0.5


class ResumableSampler(Sampler[tuple[int, int]]):
    """This process's share of each epoch (``DistributedSampler``: shuffled by seed and epoch,
    ``drop_last`` trims the data to a multiple of the processes instead of repeating samples),
    from any batch on: ``set_epoch(epoch, start_batch=k)`` yields exactly batches ``k..`` of that
    epoch, so a run saves ``(epoch, batches consumed)`` and resumes there. It yields
    ``(epoch, index)``: the epoch travels with the index to the worker that seeds the sample."""

    def __init__(
        self, dataset: Sized, batch_size: int, seed: int, rank: int, world_size: int, drop_last: bool = True
    ) -> None:
        self.shard = DistributedSampler(
            dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=seed, drop_last=drop_last
        )
        self.batch_size = batch_size
        self.epoch = 0
        self.start_batch = 0

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        """Call before each epoch; ``start_batch``: the batches of it already consumed."""
        if not 0 <= start_batch * self.batch_size <= len(self.shard):
            raise ValueError(
                f"start_batch={start_batch}: an epoch has {len(self.shard) // self.batch_size} batches of "
                f"{self.batch_size} for this process"
            )
        self.shard.set_epoch(epoch)
        self.epoch = epoch
        self.start_batch = start_batch

    def __iter__(self) -> Iterator[tuple[int, int]]:
        skipped = itertools.islice(self.shard, self.start_batch * self.batch_size, None)
        return ((self.epoch, index) for index in skipped)

    def __len__(self) -> int:
        return len(self.shard) - self.start_batch * self.batch_size


class _SeededSamples(Dataset[tuple[torch.Tensor, int]]):
    """``dataset``'s samples through ``train_transform``, each with a generator seeded by
    ``(seed, epoch, index)`` (``ResumableSampler`` yields the pair)."""

    def __init__(self, dataset: Dataset[tuple[np.ndarray, int]], seed: int) -> None:
        self.dataset = dataset
        self.seed = seed

    def __getitem__(self, item: tuple[int, int]) -> tuple[torch.Tensor, int]:
        epoch, index = item
        state = np.random.SeedSequence((self.seed, epoch, index)).generate_state(1, np.uint64)[0]
        image, label = self.dataset[index]
        return train_transform(image, torch.Generator().manual_seed(int(state))), label


def build_train_loader(
    dataset: Dataset[tuple[np.ndarray, int]],
    batch_size: int,
    workers: int,
    seed: int,
    rank: int,
    world_size: int,
    drop_last: bool = True,
) -> DataLoader:
    """Batches of ``(images, labels)`` (float32 ``Bx3x112x112`` from ``train_transform``, int64
    ``B``) for process ``rank`` of ``world_size``; ``seed >= 0``. Before each epoch call
    ``loader.sampler.set_epoch(epoch)``, or ``set_epoch(epoch, start_batch)`` to resume one.
    The loader has its own generator: starting an epoch draws the workers' base seed from it,
    not from torch's global generator, whose state a checkpoint saves for the model."""
    return DataLoader(
        _SeededSamples(dataset, seed),
        batch_size=batch_size,
        sampler=ResumableSampler(dataset, batch_size, seed, rank, world_size, drop_last),
        num_workers=workers,
        drop_last=drop_last,
        pin_memory=torch.cuda.is_available(),
        persistent_workers=workers > 0,
        generator=torch.Generator().manual_seed(seed + rank),
    )
