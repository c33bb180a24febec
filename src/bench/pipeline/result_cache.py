"""The feature cache as one run sees it: each image's key, the results it can reuse, and what
the run writes back. Results are stored under the content of the bytes decoded (and the face
source's own part, ``FaceFinder.image_key``), never under a path, so no result depends on
which run filled the cache or in what order."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench.cache import CachedDetection, FeatureCache, file_digest
from bench.data import ImageDecodeError, image_file, unreadable_reason
from bench.pipeline.decoding import failure_reason
from bench.pipeline.face_choice import FaceChooser
from bench.pipeline.face_source import FaceFinder
from bench.pipeline.records import ImageRecord, ImageStatus
from bench.pipeline.shards import Sharding, ShardStores
from bench.pipeline.timing import StageTimer
from bench.quality.measured import as_signals
from bench.stress import Stress, StressError


@dataclass
class Work:
    """The images still to compute, and the detections the cache already holds for some."""

    indices: list[int]
    detections: dict[int, CachedDetection] = field(default_factory=dict)


class RunCache:
    """The run's cache lookups and writes, by each record's ``key``. Keys are computed when the
    cache is on or the face chooser draws from them (a perturbation), cache or not."""

    def __init__(
        self,
        keys: tuple[str, str],
        finder: FaceFinder,
        stress: Stress,
        image_root: Path,
        timer: StageTimer,
    ) -> None:
        self.cache: FeatureCache | ShardStores | None = None
        self.detection_key, self.embedding_key = keys
        self.finder, self.stress, self.root, self.timer = finder, stress, image_root, timer

    def open(self, directory: Path, sharding: Sharding) -> None:
        """The cache in ``directory``, or the store(s) of a sharded run under it."""
        self.cache = sharding.open_store(directory)

    @property
    def enabled(self) -> bool:
        return self.cache is not None

    def reuse(
        self,
        records: list[ImageRecord],
        embeddings: np.ndarray,
        chooser: FaceChooser,
        workers: int,
        indices: Sequence[int],
    ) -> Work:
        """Fill in every image of ``indices`` (the run's, or a shard's share) whose results are
        cached; the rest is the work left."""
        if self.cache is None:
            return Work(list(indices))
        self._key_all([records[index] for index in indices], workers)
        known = [records[index].key for index in indices if records[index].key]
        detections = self.cache.get_detections(self.detection_key, known)
        rows = self.cache.get_embeddings(self.embedding_key, known)
        dim = embeddings.shape[1]
        work = Work([])
        for index in indices:
            record = records[index]
            if not record.key:
                continue
            entry = detections.get(record.key)
            if entry is None:
                work.indices.append(index)
            elif entry.error:
                record.status, record.reason = ImageStatus.DECODE_ERROR, entry.error
            elif chooser.choose(record, entry.shape, entry.faces) is None:
                continue
            elif record.key in rows:
                embeddings[index] = rows[record.key][:dim]
                record.measured = as_signals(rows[record.key][dim:])
            else:
                work.indices.append(index)
                work.detections[index] = entry
        return work

    def _key_all(self, records: list[ImageRecord], workers: int) -> None:
        """Each record's key from its file's content; an unreadable file is a decode error right
        away (and, having no content, nothing is cached for it)."""

        def key(record: ImageRecord) -> None:
            try:
                content = file_digest(image_file(self.root / record.path, self.root))
                if record.stressed:
                    content = self.stress.digest(content, self.stress.draw_donor(content, record.path))
                record.key = self.finder.image_key(record.path, content)
                return
            except (ImageDecodeError, StressError) as error:
                reason = failure_reason(error)
            except OSError as error:
                reason = unreadable_reason(error)
            record.status, record.reason = ImageStatus.DECODE_ERROR, reason

        with ThreadPoolExecutor(max(1, workers), thread_name_prefix="hash") as pool:
            list(pool.map(key, records))

    def decoded(self, record: ImageRecord, digest: str) -> None:
        """The bytes decoded are what results are stored under, even if the file changed since
        the lookup hashed it."""
        record.key = self.finder.image_key(record.path, digest)

    def put_detections(self, records: list[ImageRecord], found: dict[int, CachedDetection]) -> None:
        if self.cache is None:
            return
        entries = {records[index].key: entry for index, entry in found.items() if records[index].key}
        if entries:
            with self.timer("cache_write"):
                self.cache.put_detections(self.detection_key, entries)

    def put_embeddings(
        self, records: list[ImageRecord], indices: list[int], vectors: np.ndarray, measured: np.ndarray
    ) -> None:
        if self.cache is None:
            return
        rows = np.hstack([vectors, measured])
        entries = {records[index].key: row for index, row in zip(indices, rows, strict=True)}
        with self.timer("cache_write"):
            self.cache.put_embeddings(self.embedding_key, entries)

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()
            self.cache = None

    @property
    def corrupted(self) -> int:
        return self.cache.corrupted if self.cache is not None else 0

    def describe(self) -> str:
        return str(self.cache.path) if self.cache is not None else "off"
