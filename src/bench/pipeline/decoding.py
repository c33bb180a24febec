"""One image read, hashed, decoded and (when its entry is stressed) degraded, timed as a whole."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.cache import bytes_digest
from bench.data import ImageDecodeError, decode_image_bytes, read_image_bytes
from bench.pipeline.entries import ImageEntry
from bench.pipeline.threads import name_thread
from bench.stress import Stress, StressError


@dataclass
class Decoded:
    index: int
    image: np.ndarray | None
    reason: str
    #: Digest of the bytes decoded (degraded, when stressed), when asked for: results are stored
    #: under it. ``None`` also when the file (or a donor) could not be read: a read error is the
    #: file system's state, not the content's, and is never cached.
    digest: str | None = None


def decode_timed(
    index: int, root: Path, entries: list[ImageEntry], stress: Stress, digest: bool, max_pixels: int
) -> tuple[Decoded, float]:
    """Read the file once, hash those bytes (when asked, or to seed its degradation), decode them
    and degrade the image if the entry is stressed; the time covers all of it."""
    start = time.perf_counter()
    entry = entries[index]
    try:
        data = read_image_bytes(root / entry.path, root)
        clean = bytes_digest(data) if digest or entry.stressed else ""
        donor = stress.draw_donor(clean, entry.path) if entry.stressed else None
    except (ImageDecodeError, StressError) as error:
        return Decoded(index, None, failure_reason(error)), time.perf_counter() - start
    key = (stress.digest(clean, donor) if entry.stressed else clean) if digest else None
    try:
        image = decode_image_bytes(data, root / entry.path, max_pixels)
        if entry.stressed:
            image = stress.apply(image, clean, donor).image
        decoded = Decoded(index, image, "", key)
    except (ImageDecodeError, StressError) as error:
        decoded = Decoded(index, None, failure_reason(error), key)
    return decoded, time.perf_counter() - start


def failure_reason(error: ImageDecodeError | StressError) -> str:
    """Why an image failed, for its record: without its name (failures.csv has a column for it,
    and a reason cached under the content is every copy's)."""
    return error.reason if isinstance(error, ImageDecodeError) else str(error)


class DecodeBudget:
    """The bytes of decoded images the pipeline holds at once. A batch reserves its size (from
    its files' headers) before it is decoded and frees it once it is aligned. A batch waits
    until it fits, or until nothing else is held, so a photo larger than the budget still runs,
    alone."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._held: dict[int, int] = {}
        self._changed = threading.Condition()

    def fits(self, nbytes: int) -> bool:
        with self._changed:
            return self._fits(nbytes)

    def reserve(self, key: int, nbytes: int) -> None:
        """Hold ``nbytes`` under ``key`` (a batch's first image), once they fit."""
        with self._changed:
            self._changed.wait_for(lambda: self._fits(nbytes))
            self._held[key] = nbytes

    def free(self, key: int) -> None:
        with self._changed:
            self._held.pop(key, None)
            self._changed.notify_all()

    def _fits(self, nbytes: int) -> bool:
        return not self._held or sum(self._held.values()) + nbytes <= self.max_bytes


#: A batch to decode: its images' indices and its decoded size in bytes (from the headers).
SizedBatch = tuple[list[int], int]


def decoded_batches(
    batches: Iterable[SizedBatch],
    decode: Callable[[int], tuple[Decoded, float]],
    workers: int,
    depth: int,
    budget: DecodeBudget,
) -> Iterator[list[tuple[Decoded, float]]]:
    """Each batch's images decoded, in order, up to ``depth`` batches ahead on ``workers``
    threads (``0``: inline), one image a task so a batch's images decode in parallel. A batch
    is decoded once ``budget`` holds it; the consumer frees it (``DecodeBudget.free``) when done.
    While the next batch does not fit, the decoded ones are handed on first: only the consumer
    can free what they hold."""
    if workers == 0:
        for batch, nbytes in batches:
            budget.reserve(batch[0], nbytes)
            yield [decode(index) for index in batch]
        return
    with ThreadPoolExecutor(
        workers, thread_name_prefix="decode", initializer=name_thread, initargs=("decode",)
    ) as pool:
        ahead: deque[list[Future[tuple[Decoded, float]]]] = deque()
        for batch, nbytes in batches:
            while ahead and not budget.fits(nbytes):
                yield [future.result() for future in ahead.popleft()]
            budget.reserve(batch[0], nbytes)
            ahead.append([pool.submit(decode, index) for index in batch])
            if len(ahead) > depth:
                yield [future.result() for future in ahead.popleft()]
        while ahead:
            yield [future.result() for future in ahead.popleft()]
