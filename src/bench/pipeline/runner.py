"""The benchmark run: each image decoded, detected, aligned and embedded once, then the pairs scored.

Stages overlap (``pipeline=fast``): decoding workers run a few batches ahead of detection and
alignment on the calling thread, which hand aligned faces to the recognition model on its own
thread, so the slowest stage sets the pace. ``pipeline=naive`` runs the same steps one image at a
time on one thread: the in-run baseline. With the cache on, images whose results are cached are
not decoded at all, and models are loaded only when something is left to compute.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.alignment import ALIGNED_SIZE, BatchAligner, align_face
from bench.cache import CachedDetection, FeatureCache, file_digest
from bench.data import ImageDecodeError, PairDataset, decode_image, load_dataset, unreadable_reason
from bench.detectors import Detector, Face, create_detector, detector_class, select_face
from bench.detectors.center_crop import center_box
from bench.detectors.letterbox import faces_to_image, shrink_to
from bench.metrics import evaluate_verification
from bench.models import EMBEDDING_DIM, Embedder, create_embedder
from bench.pipeline.cache_keys import detection_key, embedding_key
from bench.pipeline.device import resolve_device
from bench.pipeline.memory import MemorySampler
from bench.pipeline.overlap import BackgroundStage, InlineStage
from bench.pipeline.progress import Progress
from bench.pipeline.records import AlignedSample, BenchmarkResult, ImageRecord, ImageStatus
from bench.pipeline.threads import apply_thread_budget, thread_budget
from bench.pipeline.timing import StageTimer

log = logging.getLogger(__name__)

STAGES = ("decode", "detect", "align", "embed")

#: What the models are warmed up on before timing starts (first calls allocate and tune).
_WARMUP_IMAGE = np.full((256, 256, 3), 127, dtype=np.uint8)
_WARMUP_FACES = 8


class FailurePolicy(StrEnum):
    """What an image without a detected face becomes."""

    #: Align the centre crop instead, so every pair is scored (the default).
    CENTER_CROP = "center_crop"
    #: Leave the image out; its pairs are not scored (and are counted as such).
    EXCLUDE = "exclude"
    #: Stop the run.
    ERROR = "error"


@dataclass
class _Decoded:
    index: int
    image: np.ndarray | None
    reason: str


@dataclass
class _Work:
    """The images still to compute, and the detections the cache already holds for some."""

    indices: list[int]
    detections: dict[int, CachedDetection] = field(default_factory=dict)


@dataclass
class _AlignedBatch:
    #: Images in the batch, embedded or not (decode errors, excluded failures), for progress.
    size: int
    indices: list[int]
    #: ``(N, 112, 112, 3)`` uint8: a numpy array, or a tensor on the GPU (no host round trip).
    faces: np.ndarray | torch.Tensor


def _decode_timed(root: Path, index: int, path: str) -> tuple[_Decoded, float]:
    start = time.perf_counter()
    try:
        decoded = _Decoded(index, decode_image(root / path), "")
    except ImageDecodeError as error:
        decoded = _Decoded(index, None, str(error))
    return decoded, time.perf_counter() - start


def _chunks(items: Sequence[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def _check_hardware(hardware: Mapping[str, Any]) -> None:
    for key in ("batch_size", "embed_batch_size"):
        if not isinstance(hardware[key], int) or hardware[key] < 1:
            raise ValueError(f"hardware.{key} must be an integer >= 1, got {hardware[key]!r}")
    if not isinstance(hardware["num_workers"], int) or hardware["num_workers"] < 0:
        raise ValueError(f"hardware.num_workers must be an integer >= 0, got {hardware['num_workers']!r}")


class BenchmarkRunner:
    """Runs one configuration end to end; models load on first need, timed apart."""

    def __init__(self, cfg: Mapping[str, Any]) -> None:
        hardware, self.device_note = resolve_device(cfg["hardware"])
        self.cfg = cfg = {**cfg, "hardware": hardware}
        self.hardware = hardware
        _check_hardware(self.hardware)
        self.policy = FailurePolicy(cfg["failure_policy"])
        self.detect_max_side = int(cfg["detect_max_side"])
        if self.detect_max_side < 32:
            raise ValueError(f"detect_max_side must be at least 32 pixels, got {self.detect_max_side}")
        self.selection = cfg["selection"]
        self.overlap = bool(cfg["pipeline"]["overlap"])
        self.queue_depth = int(cfg["pipeline"]["queue_depth"])
        self.embed_workers = int(cfg["pipeline"]["embed_workers"])
        self.threads = thread_budget(self.hardware, self.embed_workers, overlap=self.overlap)
        apply_thread_budget(self.threads)
        self.timer = StageTimer()
        with self.timer("load"):
            self.dataset: PairDataset = load_dataset(cfg["dataset"])
        self.cache = FeatureCache(Path(cfg["cache"]["dir"])) if cfg["cache"]["enabled"] else None
        self.detection_key = detection_key(cfg)
        self.embedding_key = embedding_key(cfg)
        self.passthrough = detector_class(cfg["detector"]["name"]).passthrough
        self.aligner = BatchAligner(self.hardware["device"], pin_memory=bool(self.hardware["pin_memory"]))
        self._detector: Detector | None = None
        self._embedder: Embedder | None = None
        self._digests: list[str | None] = []

    # -- models -------------------------------------------------------------------------------

    @property
    def detector(self) -> Detector:
        if self._detector is None:
            options = dict(self.cfg["detector"].get("options") or {})
            # A detector's own num_threads option, when set, wins over the hardware budget.
            num_threads = options.pop("num_threads", None) or self.threads.detect
            with self.timer("load"):
                detector = create_detector(
                    self.cfg["detector"]["name"],
                    device=self.hardware["device"],
                    onnx_providers=self.hardware.get("onnx_providers"),
                    num_threads=num_threads,
                    **options,
                )
            with self.timer("warmup"):
                if not detector.passthrough:
                    detector.detect([_WARMUP_IMAGE])
            self._detector = detector
        return self._detector

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            with self.timer("load"):
                embedder = create_embedder(
                    self.cfg["model"],
                    device=self.hardware["device"],
                    precision=self.hardware["precision"],
                    batch_size=self.hardware["embed_batch_size"],
                    backend=self.hardware["embed_backend"],
                    threads=self.threads.embed,
                    channels_last=bool(self.hardware["channels_last"]),
                    pin_memory=bool(self.hardware["pin_memory"]),
                )
            with self.timer("warmup"):
                embedder.embed(np.zeros((_WARMUP_FACES, ALIGNED_SIZE, ALIGNED_SIZE, 3), dtype=np.uint8))
            self._embedder = embedder
        return self._embedder

    # -- the run ------------------------------------------------------------------------------

    def run(self, progress: Progress | None = None) -> BenchmarkResult:
        progress = progress or Progress.disabled()
        paths = self.dataset.images
        records = [ImageRecord(path) for path in paths]
        embeddings = np.full((len(paths), EMBEDDING_DIM), np.nan, dtype=np.float32)
        device = torch.device(self.hardware["device"])
        setup = 0.0
        with MemorySampler(cuda=device.type == "cuda", device_index=device.index or 0) as memory:
            started = time.perf_counter()
            with memory.phase("cache"), self.timer("cache_read"):
                work = self._reuse_cached(records, embeddings)
            progress.start(STAGES, total=len(paths))
            for stage in STAGES:
                progress.advance(stage, len(paths) - len(work.indices))
            if work.indices:
                with memory.phase("load"):
                    setup_started = time.perf_counter()
                    if len(work.detections) < len(work.indices):
                        _ = self.detector
                    _ = self.embedder
                    setup = time.perf_counter() - setup_started
                with memory.phase("process"):
                    self._process(work, records, embeddings, progress)
            progress.stop()
            wall = time.perf_counter() - started - setup
            with memory.phase("evaluate"), self.timer("evaluate"):
                result = self._evaluate(records, embeddings)
        result.samples = self._sample_faces(records)
        result.memory_trace = memory.trace
        result.metrics.update(self._performance_metrics(len(paths), len(work.indices), wall, memory))
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
            elif self._choose_face(records[index], entry.shape, entry.faces) is None:
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
                return file_digest(root / record.path)
            except OSError as error:
                record.status = ImageStatus.DECODE_ERROR
                record.reason = unreadable_reason(root / record.path, error)
                return None

        with ThreadPoolExecutor(max(1, self.hardware["num_workers"]), thread_name_prefix="hash") as pool:
            return list(pool.map(digest, records))

    def _process(
        self, work: _Work, records: list[ImageRecord], embeddings: np.ndarray, progress: Progress
    ) -> None:
        batches = list(_chunks(work.indices, self.hardware["batch_size"]))

        def embed(batch: _AlignedBatch) -> None:
            self._embed(batch, embeddings, progress)

        stage: BackgroundStage[_AlignedBatch] | InlineStage[_AlignedBatch] = (
            BackgroundStage("embed", embed, self.queue_depth, self.embed_workers)
            if self.overlap
            else InlineStage(embed)
        )
        with stage:
            batcher = _EmbedBatcher(self.hardware["embed_batch_size"], stage.put)
            for decoded in self._decoded_batches(batches):
                batcher.add(self._detect_and_align(decoded, work.detections, records, progress))
            batcher.flush()
            stage.close()

    def _embed(self, batch: _AlignedBatch, embeddings: np.ndarray, progress: Progress) -> None:
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
        root, paths = self.dataset.image_root, self.dataset.images
        workers = self.hardware["num_workers"]
        if workers == 0:
            for batch in batches:
                yield [self._timed(_decode_timed(root, index, paths[index])) for index in batch]
            return
        with ThreadPoolExecutor(workers, thread_name_prefix="decode") as pool:
            ahead: deque[list[Future[tuple[_Decoded, float]]]] = deque()
            for batch in batches:
                ahead.append([pool.submit(_decode_timed, root, index, paths[index]) for index in batch])
                if len(ahead) > self.queue_depth:
                    yield [self._timed(future.result()) for future in ahead.popleft()]
            while ahead:
                yield [self._timed(future.result()) for future in ahead.popleft()]

    def _timed(self, outcome: tuple[_Decoded, float]) -> _Decoded:
        decoded, seconds = outcome
        self.timer.add("decode", seconds)
        return decoded

    def _detect_and_align(
        self,
        decoded: list[_Decoded],
        cached: Mapping[int, CachedDetection],
        records: list[ImageRecord],
        progress: Progress,
    ) -> _AlignedBatch:
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
                faces = self._detect([images[index] for index in to_detect])
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
                if (face := self._choose_face(records[index], images[index].shape[:2], found[index]))
            }
            aligned = self._align([images[index] for index in chosen], list(chosen.values()))
        progress.advance("align", len(decoded))
        return _AlignedBatch(len(decoded), list(chosen), aligned)

    def _detect(self, images: list[np.ndarray]) -> list[list[Face]]:
        """Detect on images no larger than ``detect_max_side``: a huge photo is shrunk for the
        detector only, its faces mapped back, and the face aligned from the full image."""
        shrunk = [shrink_to(image, self.detect_max_side) for image in images]
        found = self.detector.detect([image for image, _ in shrunk])
        return [faces_to_image(faces, placement) for faces, (_, placement) in zip(found, shrunk, strict=True)]

    def _entry(self, index: int, entry: CachedDetection) -> dict[str, CachedDetection]:
        digest = self._digests[index] if self._digests else None
        return {digest: entry} if digest is not None else {}

    def _align(self, images: list[np.ndarray], faces: list[Face]) -> np.ndarray | torch.Tensor:
        if not self.passthrough:
            return self.aligner.align(images, faces)
        for image in images:
            if image.shape[:2] != (ALIGNED_SIZE, ALIGNED_SIZE):
                raise ValueError(
                    f"detector={self.cfg['detector']['name']} passes images through unaligned, but "
                    f"one is {image.shape[1]}x{image.shape[0]}, not {ALIGNED_SIZE}x{ALIGNED_SIZE}: "
                    "use it only with an aligned data set"
                )
        return np.stack(images) if images else np.empty((0, ALIGNED_SIZE, ALIGNED_SIZE, 3), np.uint8)

    def _choose_face(self, record: ImageRecord, shape: tuple[int, int], faces: list[Face]) -> Face | None:
        record.num_faces = len(faces)
        face = select_face(faces, shape, self.selection)
        if face is not None:
            record.status, record.face = ImageStatus.DETECTED, face
            return face
        record.status = ImageStatus.NO_FACE
        record.reason = f"{self.cfg['detector']['name']} found no face"
        if self.policy is FailurePolicy.ERROR:
            raise RuntimeError(f"{record.path}: no face found and failure_policy=error")
        if self.policy is FailurePolicy.CENTER_CROP:
            box = center_box(shape[0], shape[1], self.cfg["fallback_crop_fraction"])
            record.face, record.fallback = Face(box=box, score=1.0), True
        return record.face

    def _sample_faces(self, records: list[ImageRecord]) -> list[AlignedSample]:
        """The first few aligned faces, and every fallback until the grid is full, so failures
        show; re-aligned here from their records, as cached images were never decoded."""
        limit = int(self.cfg["sample_faces"])
        embedded = [record for record in records if record.embedded]
        chosen = embedded[: limit // 2]
        chosen += [record for record in embedded[limit // 2 :] if record.fallback][: limit - len(chosen)]
        samples = []
        for record in chosen:
            try:
                image = decode_image(self.dataset.image_root / record.path)
            except ImageDecodeError as error:
                log.warning("sample face not shown: %s", error)
                continue
            assert record.face is not None
            face = image if self.passthrough else align_face(image, record.face)
            samples.append(AlignedSample(record.path, face, record.fallback))
        return samples

    def _evaluate(self, records: list[ImageRecord], embeddings: np.ndarray) -> BenchmarkResult:
        dataset = self.dataset
        index_a, index_b = dataset.pair_indices()
        labels, folds = dataset.labels, dataset.folds
        scores = np.einsum("ij,ij->i", embeddings[index_a], embeddings[index_b])
        scored = ~np.isnan(scores)
        if not scored.any():
            raise RuntimeError("no pair could be scored: every pair has an image that failed")
        verification = evaluate_verification(scores[scored], labels[scored], folds[scored])

        detected = np.array([record.status is ImageStatus.DETECTED for record in records])
        both_detected = detected[index_a] & detected[index_b]
        metrics = dict(verification.as_metrics())
        metrics["accuracy_detected"] = metrics["accuracy_detected_std"] = float("nan")
        # The detected subset is scored like the whole when each class keeps a few pairs.
        if min(np.bincount(labels[both_detected], minlength=2)) >= 2:
            on_detected = evaluate_verification(
                scores[both_detected], labels[both_detected], folds[both_detected]
            )
            metrics["accuracy_detected"] = on_detected.accuracy
            metrics["accuracy_detected_std"] = on_detected.accuracy_std
        failed = len(records) - int(detected.sum())
        metrics.update(
            success_rate=float(detected.mean()),
            pair_success_rate=float(both_detected.mean()),
            num_images=float(len(records)),
            num_failed_images=float(failed),
            num_fallback_images=float(sum(record.fallback for record in records)),
            num_pairs_total=float(len(scores)),
            num_pairs_scored=float(scored.sum()),
        )
        return BenchmarkResult(dataset, records, scores, verification, metrics, self._describe())

    def _describe(self) -> dict[str, str]:
        """What actually ran; a model the cache made unnecessary is recorded as not loaded."""
        runtime = {
            "detector": self.cfg["detector"]["name"],
            "model": self.cfg["model"]["name"],
            "pipeline": self.cfg["pipeline"]["name"],
            "threads_detect": str(self.threads.detect),
            "threads_embed": str(self.threads.embed),
            "cache": str(self.cache.path) if self.cache is not None else "off",
        }
        if self.device_note:
            runtime["device_choice"] = self.device_note
        for loaded, label in ((self._detector, "detector"), (self._embedder, "model")):
            if loaded is None:
                runtime[f"{label}_loaded"] = "false (every result came from the cache)"
            else:
                runtime.update(loaded.describe())
        return runtime

    def _performance_metrics(
        self, num_images: int, num_computed: int, wall: float, memory: MemorySampler
    ) -> dict[str, float]:
        seconds = self.timer.seconds
        metrics = {
            f"time_{stage}_s": seconds[stage]
            for stage in (*STAGES, "load", "warmup", "cache_read", "cache_write", "evaluate")
        }
        for stage in STAGES:
            metrics[f"ms_per_image_{stage}"] = 1000 * seconds[stage] / num_computed if num_computed else 0.0
            metrics[f"images_per_s_{stage}"] = (
                num_computed / seconds[stage] if seconds[stage] > 0 else float("nan")
            )
        metrics.update(
            time_total_s=wall,
            images_per_s=num_images / wall if wall > 0 else float("nan"),
            num_images_computed=float(num_computed),
            num_images_cached=float(num_images - num_computed),
            cache_corrupted_entries=float(self.cache.corrupted if self.cache is not None else 0),
            peak_rss_mb=memory.peak_rss_mb,
            peak_gpu_mb=memory.peak_gpu_mb,
        )
        metrics.update(memory.peaks())
        return metrics


class _EmbedBatcher:
    """Merges aligned batches into full model batches for the embedding stage."""

    def __init__(self, batch_size: int, emit: Callable[[_AlignedBatch], None]) -> None:
        self.batch_size = batch_size
        self.emit = emit
        self.pending: list[_AlignedBatch] = []

    def add(self, batch: _AlignedBatch) -> None:
        self.pending.append(batch)
        if sum(len(part.indices) for part in self.pending) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        parts = [part.faces for part in self.pending if part.indices]
        if not parts:
            merged = _AlignedBatch(sum(part.size for part in self.pending), [], self.pending[0].faces)
        elif isinstance(parts[0], torch.Tensor):
            merged = _merge(self.pending, torch.cat(parts))  # type: ignore[arg-type]
        else:
            merged = _merge(self.pending, np.concatenate(parts))
        self.pending = []
        self.emit(merged)


def _merge(batches: list[_AlignedBatch], faces: np.ndarray | torch.Tensor) -> _AlignedBatch:
    return _AlignedBatch(
        sum(batch.size for batch in batches), [index for batch in batches for index in batch.indices], faces
    )
