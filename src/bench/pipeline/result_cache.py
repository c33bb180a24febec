"""The feature cache as one run sees it: each image's key, the results it can reuse, and what
the run writes back. Results are stored under the content of the bytes decoded (and the face
source's own part, ``FaceFinder.image_key``), never under a path, so no result depends on
which run filled the cache or in what order."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench.cache import CachedDetection, FeatureCache, file_digest
from bench.data import ImageDecodeError, image_file, unreadable_reason
from bench.pipeline.face_choice import FaceChooser
from bench.pipeline.face_source import FaceFinder
from bench.pipeline.records import ImageRecord, ImageStatus
from bench.pipeline.timing import StageTimer
from bench.stress import Stress


@dataclass
class Work:
    """The images still to compute, and the detections the cache already holds for some."""

    indices: list[int]
    detections: dict[int, CachedDetection] = field(default_factory=dict)


class RunCache:
    def __init__(
        self,
        keys: tuple[str, str],
        finder: FaceFinder,
        stress: Stress,
        image_root: Path,
        timer: StageTimer,
    ) -> None:
        self.cache: FeatureCache | None = None
        self.detection_key, self.embedding_key = keys
        self.finder, self.stress, self.root, self.timer = finder, stress, image_root, timer
        #: Each entry's key; ``None`` for an unreadable file (and for every entry with no cache).
        self.keys: list[str | None] = []

    def open(self, directory: Path) -> None:
        self.cache = FeatureCache(directory)

    @property
    def enabled(self) -> bool:
        return self.cache is not None

    def reuse(
        self, records: list[ImageRecord], embeddings: np.ndarray, chooser: FaceChooser, workers: int
    ) -> Work:
        """Fill in every image whose results are cached; the rest is the work left."""
        if self.cache is None:
            return Work(list(range(len(records))))
        self.keys = self._key_all(records, workers)
        known = [key for key in self.keys if key is not None]
        detections = self.cache.get_detections(self.detection_key, known)
        vectors = self.cache.get_embeddings(self.embedding_key, known)
        work = Work([])
        for index, key in enumerate(self.keys):
            if key is None:
                continue
            entry = detections.get(key)
            if entry is None:
                work.indices.append(index)
            elif entry.error:
                records[index].status, records[index].reason = ImageStatus.DECODE_ERROR, entry.error
            elif chooser.choose(records[index], entry.shape, entry.faces) is None:
                continue
            elif key in vectors:
                embeddings[index] = vectors[key]
            else:
                work.indices.append(index)
                work.detections[index] = entry
        return work

    def _key_all(self, records: list[ImageRecord], workers: int) -> list[str | None]:
        """Content hashes of every image file; an unreadable file is a decode error right away."""

        def key(record: ImageRecord) -> str | None:
            try:
                content = file_digest(image_file(self.root / record.path, self.root))
                digest = self.stress.digest(content) if record.stressed else content
                return self.finder.image_key(record.path, digest)
            except ImageDecodeError as error:
                reason = str(error)
            except OSError as error:
                reason = unreadable_reason(self.root / record.path, error)
            record.status, record.reason = ImageStatus.DECODE_ERROR, reason
            return None

        with ThreadPoolExecutor(max(1, workers), thread_name_prefix="hash") as pool:
            return list(pool.map(key, records))

    def decoded(self, index: int, path: str, digest: str) -> None:
        """The bytes decoded are what results are stored under, even if the file changed since
        the lookup hashed it."""
        self.keys[index] = self.finder.image_key(path, digest)

    def put_detections(self, found: dict[int, CachedDetection]) -> None:
        if self.cache is None or not self.keys:
            return
        entries = {key: entry for index, entry in found.items() if (key := self.keys[index]) is not None}
        if entries:
            with self.timer("cache_write"):
                self.cache.put_detections(self.detection_key, entries)

    def put_embeddings(self, indices: list[int], vectors: np.ndarray) -> None:
        if self.cache is None or not self.keys:
            return
        entries = {self.keys[index]: vectors[row] for row, index in enumerate(indices)}
        with self.timer("cache_write"):
            self.cache.put_embeddings(self.embedding_key, entries)  # type: ignore[arg-type]

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()
            self.cache = None

    @property
    def corrupted(self) -> int:
        return self.cache.corrupted if self.cache is not None else 0

    def describe(self) -> str:
        return str(self.cache.path) if self.cache is not None else "off"
