"""Aligned faces gathered into full model batches for the recognition stage."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class AlignedBatch:
    #: Images in the batch, embedded or not (decode errors, excluded failures), for progress.
    size: int
    indices: list[int]
    #: ``(N, 112, 112, 3)`` uint8: a numpy array, or a tensor on the GPU (no host round trip).
    faces: np.ndarray | torch.Tensor


def chunks(items: Sequence[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def pixel_batches(
    items: Iterable[int], pixels: Callable[[int], int], size: int, max_pixels: int
) -> Iterator[tuple[list[int], int]]:
    """``items`` in order, in batches of at most ``size`` items and ``max_pixels`` pixels
    (``pixels(item)`` each), each with its pixel count, so a batch's memory does not grow with
    its photos' size; an item above ``max_pixels`` is a batch of its own. Read lazily:
    ``pixels`` is asked only as the batches are taken."""
    batch: list[int] = []
    total = 0
    for item in items:
        count = pixels(item)
        if batch and (len(batch) == size or total + count > max_pixels):
            yield batch, total
            batch, total = [], 0
        batch.append(item)
        total += count
    if batch:
        yield batch, total


class EmbedBatcher:
    """Merges aligned batches into full model batches and hands each to ``emit``."""

    def __init__(self, batch_size: int, emit: Callable[[AlignedBatch], None]) -> None:
        self.batch_size = batch_size
        self.emit = emit
        self.pending: list[AlignedBatch] = []

    def add(self, batch: AlignedBatch) -> None:
        self.pending.append(batch)
        if sum(len(part.indices) for part in self.pending) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        size = sum(part.size for part in self.pending)
        indices = [index for part in self.pending for index in part.indices]
        parts = [part.faces for part in self.pending if part.indices]
        if not parts:
            faces = self.pending[0].faces
        elif isinstance(parts[0], torch.Tensor):
            faces = torch.cat(parts)  # type: ignore[arg-type]
        else:
            faces = np.concatenate(parts)
        self.pending = []
        self.emit(AlignedBatch(size, indices, faces))
