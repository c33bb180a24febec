"""The benchmark run: decode, detect, align and embed each image once, then score the pairs."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from enum import StrEnum
from typing import Any

import cv2
import numpy as np
import torch

from bench.alignment import ALIGNED_SIZE, align_face
from bench.data import ImageDecodeError, PairDataset, decode_image, load_dataset
from bench.detectors import Detector, create_detector, select_face
from bench.detectors.center_crop import CenterCropDetector
from bench.metrics import evaluate_verification
from bench.models import EMBEDDING_DIM, Embedder, create_embedder
from bench.pipeline.memory import MemorySampler
from bench.pipeline.progress import Progress
from bench.pipeline.records import BenchmarkResult, ImageRecord, ImageStatus
from bench.pipeline.timing import StageTimer

log = logging.getLogger(__name__)

STAGES = ("decode", "detect", "align", "embed")


class FailurePolicy(StrEnum):
    """What an image without a detected face becomes."""

    #: Align the centre crop instead, so every pair is scored (the default).
    CENTER_CROP = "center_crop"
    #: Leave the image out; its pairs are not scored (and are counted as such).
    EXCLUDE = "exclude"
    #: Stop the run.
    ERROR = "error"


def configure_threads(num_threads: int | None) -> None:
    """One intra-op thread budget for torch and OpenCV, so they do not fight over cores."""
    if num_threads:
        torch.set_num_threads(num_threads)
        cv2.setNumThreads(num_threads)


def _decode_timed(path: str, root: Any) -> tuple[np.ndarray | None, str, float]:
    start = time.perf_counter()
    try:
        image, reason = decode_image(root / path), ""
    except ImageDecodeError as error:
        image, reason = None, str(error)
    return image, reason, time.perf_counter() - start


def _batches(count: int, size: int) -> Iterator[range]:
    for start in range(0, count, size):
        yield range(start, min(start + size, count))


class BenchmarkRunner:
    """Runs one configuration end to end. Construction loads the models (timed apart)."""

    def __init__(self, cfg: Mapping[str, Any]) -> None:
        self.cfg = cfg
        hardware = cfg["hardware"]
        if hardware["batch_size"] < 1:
            raise ValueError(f"hardware.batch_size must be >= 1, got {hardware['batch_size']}")
        self.policy = FailurePolicy(cfg["failure_policy"])
        self.selection = cfg["selection"]
        configure_threads(hardware.get("num_threads"))
        self.timer = StageTimer()
        with self.timer("load"):
            self.dataset: PairDataset = load_dataset(cfg["dataset"])
            self.detector: Detector = create_detector(
                cfg["detector"]["name"],
                device=hardware["device"],
                onnx_providers=hardware.get("onnx_providers"),
                **(cfg["detector"].get("options") or {}),
            )
            self.embedder: Embedder = create_embedder(
                cfg["model"],
                device=hardware["device"],
                precision=hardware["precision"],
                batch_size=hardware["embed_batch_size"],
            )
        self.fallback = CenterCropDetector(fraction=cfg["fallback_crop_fraction"])

    def run(self, progress: Progress | None = None) -> BenchmarkResult:
        progress = progress or Progress.disabled()
        paths = self.dataset.images
        records = [ImageRecord(path) for path in paths]
        embeddings = np.full((len(paths), EMBEDDING_DIM), np.nan, dtype=np.float32)
        samples: list[tuple[str, np.ndarray]] = []
        hardware = self.cfg["hardware"]
        progress.start(STAGES, total=len(paths))

        with (
            MemorySampler(cuda=str(self.embedder.device).startswith("cuda")) as memory,
            ThreadPoolExecutor(max(1, hardware["num_workers"]), thread_name_prefix="decode") as pool,
        ):
            started = time.perf_counter()
            batches = list(_batches(len(paths), hardware["batch_size"]))
            pending = self._submit(pool, paths, batches[0]) if batches else []
            for number, batch in enumerate(batches):
                decoded = [future.result() for future in pending]
                # Decode the next batch while this one is detected and embedded.
                if number + 1 < len(batches):
                    pending = self._submit(pool, paths, batches[number + 1])
                self._process_batch(batch, decoded, records, embeddings, samples, progress)
            wall = time.perf_counter() - started

        with self.timer("evaluate"):
            result = self._evaluate(records, embeddings, samples)
        result.memory_trace = memory.trace
        result.metrics.update(self._performance_metrics(len(paths), wall, memory))
        progress.stop()
        return result

    def _submit(self, pool: ThreadPoolExecutor, paths: Sequence[str], batch: range) -> list[Future]:
        return [pool.submit(_decode_timed, paths[i], self.dataset.image_root) for i in batch]

    def _process_batch(
        self,
        batch: range,
        decoded: list[tuple[np.ndarray | None, str, float]],
        records: list[ImageRecord],
        embeddings: np.ndarray,
        samples: list[tuple[str, np.ndarray]],
        progress: Progress,
    ) -> None:
        images: dict[int, np.ndarray] = {}
        for index, (image, reason, seconds) in zip(batch, decoded, strict=True):
            self.timer.add("decode", seconds)
            if image is None:
                records[index].status, records[index].reason = ImageStatus.DECODE_ERROR, reason
            else:
                images[index] = image
        progress.advance("decode", len(batch))

        with self.timer("detect"):
            detections = self.detector.detect(list(images.values())) if images else []
        progress.advance("detect", len(batch))

        with self.timer("align"):
            aligned_indices, aligned_faces = [], []
            for index, faces in zip(images, detections, strict=True):
                face = self._choose_face(records[index], images[index], faces)
                if face is None:
                    continue
                crop = images[index] if self.detector.passthrough else align_face(images[index], face)
                if crop.shape[:2] != (ALIGNED_SIZE, ALIGNED_SIZE):
                    raise ValueError(
                        f"{records[index].path}: detector={self.detector.name} passes images through "
                        f"unaligned, but this one is {crop.shape[1]}x{crop.shape[0]}, not "
                        f"{ALIGNED_SIZE}x{ALIGNED_SIZE}: use it only with an aligned data set"
                    )
                aligned_indices.append(index)
                aligned_faces.append(crop)
        progress.advance("align", len(batch))

        with self.timer("embed"):
            if aligned_faces:
                embeddings[aligned_indices] = self.embedder.embed(np.stack(aligned_faces))
        progress.advance("embed", len(batch))
        self._collect_samples(aligned_indices, aligned_faces, records, samples)

    def _choose_face(self, record: ImageRecord, image: np.ndarray, faces: list) -> Any:
        record.num_faces = len(faces)
        face = select_face(faces, image.shape, self.selection)
        if face is not None:
            record.face = face
            return face
        record.status, record.reason = ImageStatus.NO_FACE, f"{self.detector.name} found no face"
        if self.policy is FailurePolicy.ERROR:
            raise RuntimeError(f"{record.path}: no face found and failure_policy=error")
        if self.policy is FailurePolicy.CENTER_CROP:
            record.face, record.fallback = self.fallback.detect([image])[0][0], True
        return record.face

    def _collect_samples(
        self,
        indices: list[int],
        faces: list[np.ndarray],
        records: list[ImageRecord],
        samples: list[tuple[str, np.ndarray]],
    ) -> None:
        limit = int(self.cfg["sample_faces"])
        for index, face in zip(indices, faces, strict=True):
            record = records[index]
            # The first few images, and every fallback until the grid is full, so failures show.
            if len(samples) < limit // 2 or (record.fallback and len(samples) < limit):
                caption = record.path.rsplit("/", 1)[-1].removesuffix(".jpg")
                samples.append((caption + (" (fallback)" if record.fallback else ""), face))

    def _evaluate(
        self, records: list[ImageRecord], embeddings: np.ndarray, samples: list[tuple[str, np.ndarray]]
    ) -> BenchmarkResult:
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
        runtime = {**self.detector.describe(), **self.embedder.describe()}
        return BenchmarkResult(dataset, records, scores, verification, metrics, runtime, samples)

    def _performance_metrics(self, num_images: int, wall: float, memory: MemorySampler) -> dict[str, float]:
        seconds = self.timer.seconds
        metrics = {f"time_{stage}_s": seconds[stage] for stage in (*STAGES, "load", "evaluate")}
        metrics.update({f"ms_per_image_{stage}": 1000 * seconds[stage] / num_images for stage in STAGES})
        metrics.update(
            time_total_s=wall,
            images_per_s=num_images / wall if wall > 0 else float("nan"),
            peak_rss_mb=memory.peak_rss_mb,
            peak_gpu_mb=memory.peak_gpu_mb,
        )
        return metrics
