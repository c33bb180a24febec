"""The benchmark run: each image decoded, detected, aligned and embedded once, then the pairs scored.

Stages overlap (``pipeline=fast``): decoding workers run a few batches ahead of detection and
alignment on the calling thread, which hand aligned faces to the recognition model on its own
threads, so the slowest stage sets the pace. ``pipeline=naive`` runs the same steps one image at
a time on one thread: the in-run baseline. With the cache on, images whose results are cached are
not decoded at all, and models are loaded only when something is left to compute.

    with BenchmarkRunner(config) as runner:
        result = runner.run()
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import TracebackType

import numpy as np
import torch

from bench.alignment import ALIGNED_SIZE, BatchAligner
from bench.cache import CachedDetection, FeatureCache, bytes_digest, file_digest
from bench.config import GIVEN_LANDMARKS, BenchConfig, StressCondition
from bench.cpu import cpu_info
from bench.data import (
    Dataset,
    ImageDecodeError,
    TemplateDataset,
    decode_image_bytes,
    image_file,
    load_dataset,
    read_image_bytes,
    unreadable_reason,
)
from bench.detectors import Detector, Face, create_detector, detector_entry
from bench.detectors.letterbox import faces_to_image, shrink_to
from bench.metrics import evaluate_pairs, keys, pair_scores
from bench.metrics.templates import evaluate_templates
from bench.models import EMBEDDING_DIM, Embedder, create_embedder
from bench.pipeline.batching import AlignedBatch, EmbedBatcher, chunks
from bench.pipeline.cache_keys import detection_key, embedding_key
from bench.pipeline.detector_pool import DetectorPool
from bench.pipeline.entries import ImageEntries, ImageEntry, image_entries
from bench.pipeline.face_choice import FaceChooser
from bench.pipeline.memory import MemorySampler
from bench.pipeline.overlap import BackgroundStage, InlineStage
from bench.pipeline.performance import performance_metrics
from bench.pipeline.progress import Progress
from bench.pipeline.records import BenchmarkResult, ImageRecord, ImageStatus
from bench.pipeline.samples import sample_faces
from bench.pipeline.timing import StageTimer
from bench.runtime import Runtime
from bench.stress import FaceDonors, Stress, StressError

#: What the models are warmed up on before timing starts (first calls allocate and tune).
_WARMUP_IMAGE = np.full((256, 256, 3), 127, dtype=np.uint8)
_WARMUP_FACES = 8


@dataclass
class _Decoded:
    index: int
    image: np.ndarray | None
    reason: str
    #: Digest of the bytes decoded (when the cache is on): results are stored under it.
    digest: str | None = None


@dataclass
class _Work:
    """The images still to compute, and the detections the cache already holds for some."""

    indices: list[int]
    detections: dict[int, CachedDetection] = field(default_factory=dict)


def _decode_timed(
    root: Path, index: int, entry: ImageEntry, stress: Stress, digest: bool, max_pixels: int
) -> tuple[_Decoded, float]:
    """Read the file once, hash those bytes (when asked, or to seed its degradation), decode them
    and degrade the image if the entry is stressed; the time covers all of it."""
    start = time.perf_counter()
    try:
        data = read_image_bytes(root / entry.path, root)
        image = decode_image_bytes(data, root / entry.path, max_pixels)
        content = bytes_digest(data) if digest or entry.stressed else None
        if entry.stressed:
            assert content is not None
            image = stress.apply(image, content, entry.path).image
            content = stress.digest(content)
        decoded = _Decoded(index, image, "", content if digest else None)
    except (ImageDecodeError, StressError) as error:
        decoded = _Decoded(index, None, str(error))
    return decoded, time.perf_counter() - start


class BenchmarkRunner:
    """Runs one configuration end to end: a context manager that applies the runtime's thread
    pools and opens the feature cache on entry, and closes the cache and drops the models on
    exit. Models load on first need, timed apart."""

    def __init__(self, config: BenchConfig) -> None:
        self.config = config
        self.runtime = Runtime.from_config(config.hardware, config.pipeline)
        self.timer = StageTimer()
        with self.timer("load"):
            self.dataset: Dataset = load_dataset(config.dataset)
        donors = (
            FaceDonors(self.dataset.image_root, tuple(self.dataset.images), config.dataset.max_image_pixels)
            if config.stress.name is StressCondition.distractor
            else None
        )
        self.stress = Stress(config.stress, donors)
        self.entries: ImageEntries = image_entries(self.dataset, config.stress)
        self.passthrough = detector_entry(config.detector.name).passthrough
        #: ``detector=given``: each face's landmarks are the data set's (IJB), nothing is detected.
        self.given = self.dataset if config.detector.name == GIVEN_LANDMARKS else None
        self.chooser = FaceChooser(
            config.detector.name,
            config.selection,
            config.failure_policy,
            config.fallback_crop_fraction,
            config.perturbation,
        )
        self.detection_key = detection_key(config, self.runtime)
        self.embedding_key = embedding_key(config, self.runtime)
        self.aligner = BatchAligner(self.runtime.device, pin_memory=config.hardware.pin_memory)
        self.cache: FeatureCache | None = None
        self._detectors: DetectorPool | None = None
        self._embedder: Embedder | None = None
        self._digests: list[str | None] = []

    def __enter__(self) -> BenchmarkRunner:
        self.runtime.apply_thread_pools()
        if self.config.cache.enabled:
            assert self.config.cache.dir is not None  # checked by CacheConfig
            self.cache = FeatureCache(Path(self.config.cache.dir))
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self.cache is not None:
            self.cache.close()
            self.cache = None
        if self._detectors is not None:
            self._detectors.close()
        self._detectors = self._embedder = None

    # -- models -------------------------------------------------------------------------------

    @property
    def detector(self) -> Detector:
        """The first detection worker's detector (each worker has its own)."""
        return self.detectors.detectors[0]

    @property
    def detectors(self) -> DetectorPool:
        if self._detectors is None:
            self._detectors = DetectorPool(self._new_detector, self.runtime.detect_workers)
        return self._detectors

    def _new_detector(self) -> Detector:
        with self.timer("load"):
            detector = create_detector(self.config.detector.name, self.runtime, self.config.detector.options)
        with self.timer("warmup"):
            if not self.passthrough:
                detector.detect([_WARMUP_IMAGE])
        return detector

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            hardware = self.config.hardware
            with self.timer("load"):
                embedder = create_embedder(
                    self.config.model,
                    self.runtime,
                    precision=hardware.precision,
                    batch_size=hardware.embed_batch_size,
                    backend=hardware.embed_backend,
                    channels_last=hardware.channels_last,
                    pin_memory=hardware.pin_memory,
                )
            with self.timer("warmup"):
                embedder.embed(np.zeros((_WARMUP_FACES, ALIGNED_SIZE, ALIGNED_SIZE, 3), dtype=np.uint8))
            self._embedder = embedder
        return self._embedder

    # -- the run ------------------------------------------------------------------------------

    def run(self, progress: Progress | None = None) -> BenchmarkResult:
        progress = progress or Progress.disabled()
        entries = self.entries.entries
        records = [ImageRecord(entry.path, entry.stressed) for entry in entries]
        embeddings = np.full((len(entries), EMBEDDING_DIM), np.nan, dtype=np.float32)
        setup = 0.0
        device = self.runtime.device
        with MemorySampler(cuda=self.runtime.is_cuda, device_index=device.index or 0) as memory:
            started = time.perf_counter()
            with memory.phase("cache"), self.timer("cache_read"):
                work = self._reuse_cached(records, embeddings)
            progress.start(keys.STAGES, total=len(entries))
            for stage in keys.STAGES:
                progress.advance(stage, len(entries) - len(work.indices))
            if work.indices:
                with memory.phase("load"):
                    setup_started = time.perf_counter()
                    if len(work.detections) < len(work.indices) and self.given is None:
                        _ = self.detector
                    _ = self.embedder
                    setup = time.perf_counter() - setup_started
                with memory.phase("process"):
                    self._process(work, records, embeddings, progress)
            progress.stop()
            wall = time.perf_counter() - started - setup
            with memory.phase("evaluate"), self.timer("evaluate"):
                result = self._evaluate(records, embeddings)
        result.samples = sample_faces(
            records,
            self.dataset.image_root,
            self.config.sample_faces,
            self.passthrough,
            self.config.dataset.max_image_pixels,
            self.stress,
        )
        result.memory_trace = memory.trace
        result.metrics.update(
            performance_metrics(
                self.timer,
                memory,
                num_images=len(entries),
                num_computed=len(work.indices),
                wall_s=wall,
                cache_corrupted=self.cache.corrupted if self.cache is not None else 0,
            )
        )
        return result

    def _reuse_cached(self, records: list[ImageRecord], embeddings: np.ndarray) -> _Work:
        """Fill in every image whose results are cached; the rest is the work left."""
        if self.cache is None:
            return _Work(list(range(len(records))))
        self._digests = self._digest_all(records)
        known = [digest for digest in self._digests if digest is not None]
        detections = self.cache.get_detections(self.detection_key, known)
        vectors = self.cache.get_embeddings(self.embedding_key, known)
        work = _Work([])
        for index, digest in enumerate(self._digests):
            if digest is None:
                continue
            entry = detections.get(digest)
            if entry is None:
                work.indices.append(index)
            elif entry.error:
                records[index].status, records[index].reason = ImageStatus.DECODE_ERROR, entry.error
            elif self.chooser.choose(records[index], entry.shape, entry.faces) is None:
                continue
            elif digest in vectors:
                embeddings[index] = vectors[digest]
            else:
                work.indices.append(index)
                work.detections[index] = entry
        return work

    def _digest_all(self, records: list[ImageRecord]) -> list[str | None]:
        """Content hashes of every image file; an unreadable file is a decode error right away."""
        root = self.dataset.image_root

        def digest(record: ImageRecord) -> str | None:
            try:
                content = file_digest(image_file(root / record.path, root))
                return self._image_key(
                    record.path, self.stress.digest(content) if record.stressed else content
                )
            except ImageDecodeError as error:
                reason = str(error)
            except OSError as error:
                reason = unreadable_reason(root / record.path, error)
            record.status, record.reason = ImageStatus.DECODE_ERROR, reason
            return None

        with ThreadPoolExecutor(max(1, self.config.hardware.num_workers), thread_name_prefix="hash") as pool:
            return list(pool.map(digest, records))

    def _process(
        self, work: _Work, records: list[ImageRecord], embeddings: np.ndarray, progress: Progress
    ) -> None:
        pipeline = self.config.pipeline

        def embed(batch: AlignedBatch) -> None:
            self._embed(batch, embeddings, progress)

        stage: BackgroundStage[AlignedBatch] | InlineStage[AlignedBatch] = (
            BackgroundStage("embed", embed, pipeline.queue_depth, self.runtime.embed_workers)
            if pipeline.overlap
            else InlineStage(embed)
        )
        with stage:
            batcher = EmbedBatcher(self.config.hardware.embed_batch_size, stage.put)
            decoded = self._decoded_batches(list(chunks(work.indices, self.config.hardware.batch_size)))
            for aligned in self._aligned_batches(decoded, work.detections, records, progress):
                batcher.add(aligned)
            batcher.flush()
            stage.close()

    def _aligned_batches(
        self,
        batches: Iterator[list[_Decoded]],
        cached: Mapping[int, CachedDetection],
        records: list[ImageRecord],
        progress: Progress,
    ) -> Iterator[AlignedBatch]:
        """Detected and aligned batches in order, on ``detect_workers`` threads (each batch's
        result depends on that batch alone, so the order of the work does not change it)."""
        detect_and_align = partial(self._detect_and_align, cached=cached, records=records, progress=progress)
        if self.runtime.detect_workers == 1:
            yield from map(detect_and_align, batches)
            return
        pool = ThreadPoolExecutor(self.runtime.detect_workers, thread_name_prefix="detect")
        try:
            pending: deque[Future[AlignedBatch]] = deque()
            for batch in batches:
                pending.append(pool.submit(detect_and_align, batch))
                if len(pending) >= self.runtime.detect_workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)  # a failed or stopped run waits for none queued

    def _embed(self, batch: AlignedBatch, embeddings: np.ndarray, progress: Progress) -> None:
        """Embed one model batch (on an embedding worker) and cache its embeddings."""
        if batch.indices:
            with self.timer("embed"):
                vectors = self.embedder.embed(batch.faces)
            embeddings[batch.indices] = vectors
            if self.cache is not None and self._digests:
                entries = {self._digests[i]: vectors[row] for row, i in enumerate(batch.indices)}
                with self.timer("cache_write"):
                    self.cache.put_embeddings(self.embedding_key, entries)  # type: ignore[arg-type]
        progress.advance("embed", batch.size)

    def _decoded_batches(self, batches: list[list[int]]) -> Iterator[list[_Decoded]]:
        """Decoded batches in order, decoding up to ``queue_depth`` batches ahead on workers."""
        root, entries = self.dataset.image_root, self.entries.entries
        decode = partial(
            _decode_timed,
            root,
            stress=self.stress,
            digest=self.cache is not None,
            max_pixels=self.config.dataset.max_image_pixels,
        )
        workers = self.config.hardware.num_workers
        if workers == 0:
            for batch in batches:
                yield [self._timed(decode(index, entries[index])) for index in batch]
            return
        with ThreadPoolExecutor(workers, thread_name_prefix="decode") as pool:
            ahead: deque[list[Future[tuple[_Decoded, float]]]] = deque()
            for batch in batches:
                ahead.append([pool.submit(decode, index, entries[index]) for index in batch])
                if len(ahead) > self.config.pipeline.queue_depth:
                    yield [self._timed(future.result()) for future in ahead.popleft()]
            while ahead:
                yield [self._timed(future.result()) for future in ahead.popleft()]

    def _timed(self, outcome: tuple[_Decoded, float]) -> _Decoded:
        decoded, seconds = outcome
        self.timer.add("decode", seconds)
        if decoded.digest is not None:
            # The bytes decoded are what results are stored under, even if the file changed
            # since the lookup hashed it.
            self._digests[decoded.index] = self._image_key(
                self.entries.entries[decoded.index].path, decoded.digest
            )
        return decoded

    def _image_key(self, path: str, digest: str) -> str:
        """What an image's cached results are stored under: its content's digest, and with
        ``detector=given`` also its given landmarks (two identical crops may be given different
        points, and an edited landmarks file must miss the cache)."""
        if self.given is None:
            return digest
        landmarks, score = self.given.given_landmarks(path)
        return bytes_digest(f"{digest}\n{landmarks.tobytes().hex()}\n{score!r}".encode())

    def _detect_and_align(
        self,
        decoded: list[_Decoded],
        cached: Mapping[int, CachedDetection],
        records: list[ImageRecord],
        progress: Progress,
    ) -> AlignedBatch:
        images: dict[int, np.ndarray] = {}
        new_entries: dict[str, CachedDetection] = {}
        for item in decoded:
            if item.image is None:
                record = records[item.index]
                record.status, record.reason = ImageStatus.DECODE_ERROR, item.reason
                new_entries.update(self._entry(item.index, CachedDetection([], error=item.reason)))
            else:
                images[item.index] = item.image
        progress.advance("decode", len(decoded))

        found: dict[int, list[Face]] = {index: cached[index].faces for index in images if index in cached}
        to_detect = [index for index in images if index not in cached]
        if to_detect:
            with self.timer("detect"):
                faces = (
                    self._detect([images[index] for index in to_detect])
                    if self.given is None
                    else [self._given_faces(records[index].path, images[index]) for index in to_detect]
                )
            for index, image_faces in zip(to_detect, faces, strict=True):
                found[index] = image_faces
                shape = images[index].shape[:2]
                new_entries.update(self._entry(index, CachedDetection(image_faces, shape=shape)))
        if self.cache is not None and new_entries:
            with self.timer("cache_write"):
                self.cache.put_detections(self.detection_key, new_entries)
        progress.advance("detect", len(decoded))

        with self.timer("align"):
            chosen = {
                index: face
                for index in images
                if (face := self.chooser.choose(records[index], images[index].shape[:2], found[index]))
            }
            aligned = self._align([images[index] for index in chosen], list(chosen.values()))
        progress.advance("align", len(decoded))
        return AlignedBatch(len(decoded), list(chosen), aligned)

    def _detect(self, images: list[np.ndarray]) -> list[list[Face]]:
        """Detect on images no larger than ``detect_max_side``: a huge photo is shrunk for the
        detector only, its faces mapped back, and the face aligned from the full image."""
        shrunk = [shrink_to(image, self.config.detect_max_side) for image in images]
        with self.detectors.lease() as detector:
            found = detector.detect([image for image, _ in shrunk])
        return [faces_to_image(faces, placement) for faces, (_, placement) in zip(found, shrunk, strict=True)]

    def _given_faces(self, path: str, image: np.ndarray) -> list[Face]:
        """The data set's face for ``path``: its five points and score, the whole crop as box."""
        assert self.given is not None
        landmarks, score = self.given.given_landmarks(path)
        return [Face(box=[0, 0, image.shape[1], image.shape[0]], score=score, landmarks=landmarks)]

    def _entry(self, index: int, entry: CachedDetection) -> dict[str, CachedDetection]:
        digest = self._digests[index] if self._digests else None
        return {digest: entry} if digest is not None else {}

    def _align(self, images: list[np.ndarray], faces: list[Face]) -> np.ndarray | torch.Tensor:
        if not self.passthrough:
            return self.aligner.align(images, faces)
        for image in images:
            if image.shape[:2] != (ALIGNED_SIZE, ALIGNED_SIZE):
                raise ValueError(
                    f"detector={self.config.detector.name} passes images through unaligned, but "
                    f"one is {image.shape[1]}x{image.shape[0]}, not {ALIGNED_SIZE}x{ALIGNED_SIZE}: "
                    "use it only with an aligned data set"
                )
        return np.stack(images) if images else np.empty((0, ALIGNED_SIZE, ALIGNED_SIZE, 3), np.uint8)

    def _evaluate(self, records: list[ImageRecord], embeddings: np.ndarray) -> BenchmarkResult:
        dataset = self.dataset
        detected = np.array([record.status is ImageStatus.DETECTED for record in records])
        fallback = np.array([record.fallback for record in records])
        if isinstance(dataset, TemplateDataset):
            weights = None
            if dataset.detector_score_weighting:
                weights = np.array([record.face.score if record.face else np.nan for record in records])
            evaluation = evaluate_templates(
                dataset.protocol, embeddings, detected=detected, fallback=fallback, weights=weights
            )
            none = np.empty(0, dtype=np.int64)
            return BenchmarkResult(
                dataset, records, evaluation.scores, none, none, None, evaluation.metrics, self._describe(),
                templates=evaluation,
            )  # fmt: skip
        index_a, index_b = self.entries.index_a, self.entries.index_b
        scores = pair_scores(embeddings, index_a, index_b)
        evaluation = evaluate_pairs(
            scores,
            dataset.labels,
            dataset.folds,
            index_a=index_a,
            index_b=index_b,
            detected=detected,
            fallback=fallback,
        )
        metrics = dict(evaluation.metrics)
        moved = [record.perturbation_nme for record in records if record.perturbation_nme is not None]
        if moved:
            metrics[keys.PERTURBATION_NME] = float(np.nanmean(moved))
        return BenchmarkResult(
            dataset,
            records,
            scores,
            index_a,
            index_b,
            evaluation.verification,
            metrics,
            self._describe(),
        )

    def _describe(self) -> dict[str, str]:
        """What actually ran; a model the cache made unnecessary is recorded as not loaded."""
        runtime = {
            "detector": self.config.detector.name,
            "model": self.config.model.name,
            "pipeline": self.config.pipeline.name,
            "device": self.runtime.device_name,
            "cpu": str(cpu_info()),
            "workers_detect": str(self.runtime.detect_workers),
            "threads_detect": str(self.runtime.detect_threads),
            "threads_embed": str(self.runtime.embed_threads),
            "cache": str(self.cache.path) if self.cache is not None else "off",
        }
        if self.runtime.note:
            runtime["device_choice"] = self.runtime.note
        runtime.update(self.stress.describe())
        detector = self._detectors.detectors[0] if self._detectors is not None else None
        for loaded, label in ((detector, "detector"), (self._embedder, "model")):
            if loaded is None:
                runtime[f"{label}_loaded"] = "false (every result came from the cache)"
            else:
                runtime.update(loaded.describe())
        return runtime
