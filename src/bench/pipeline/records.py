"""What happened to each image and the outcome of a whole run."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from bench.data import Dataset
from bench.detectors import Face
from bench.metrics import VerificationResult
from bench.metrics.edc import EdcResult
from bench.metrics.templates import TemplateEvaluation
from bench.pipeline.memory import MemorySample


class ImageStatus(StrEnum):
    DETECTED = "detected"
    #: No face found; ``FailurePolicy`` decides whether a fallback face is used.
    NO_FACE = "no_face"
    #: The file could not be read; its pairs are not scored.
    DECODE_ERROR = "decode_error"


@dataclass
class ImageRecord:
    path: str
    #: Degraded by the run's stress condition before detection (``bench.stress``).
    stressed: bool = False
    status: ImageStatus = ImageStatus.DETECTED
    num_faces: int = 0
    #: The face that was aligned: the selected detection, or the fallback crop.
    face: Face | None = None
    fallback: bool = False
    reason: str = ""
    #: The landmark error a ``perturbation`` added to the face (NME), when one did.
    perturbation_nme: float | None = None
    #: What the image's results are stored under and its perturbation drawn from: the digest of
    #: the bytes decoded (degraded, when stressed) with the face source's part; never its name.
    #: Empty when neither the cache nor a perturbation needs it.
    key: str = ""
    #: The quality signals measured as the face was embedded (``bench.quality.measured``).
    measured: dict[str, float] = field(default_factory=dict)

    @property
    def embedded(self) -> bool:
        return self.face is not None


@dataclass(frozen=True)
class AlignedSample:
    path: str
    #: ``112x112x3`` uint8 RGB, as the model saw it.
    face: np.ndarray
    fallback: bool

    @property
    def caption(self) -> str:
        stem = self.path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        return stem + (" (fallback)" if self.fallback else "")


@dataclass
class BenchmarkResult:
    dataset: Dataset
    records: list[ImageRecord]
    #: Cosine similarity per pair (per template pair on IJB); NaN where a pair could not be scored.
    scores: np.ndarray
    #: Each pair's two images, as indices into ``records`` (empty on IJB: its pairs are templates).
    index_a: np.ndarray
    index_b: np.ndarray
    #: The pairs' verification; ``None`` on IJB, whose evaluation is ``templates``.
    verification: VerificationResult | None
    metrics: dict[str, float]
    #: What actually ran (backends, devices, weight files), logged as run parameters.
    runtime: dict[str, str]
    #: Aligned faces for the artifact grid: the first images of the data set (the same in every
    #: run on it, so a sweep can show one image aligned by each method), then fallbacks.
    samples: list[AlignedSample] = field(default_factory=list)
    memory_trace: list[MemorySample] = field(default_factory=list)
    #: IJB's template evaluation (1:1 table, 1:N); ``None`` for pairs of images.
    templates: TemplateEvaluation | None = None
    #: The name of the protocol that scored it (``bench.pipeline.protocols``).
    protocol: str = ""
    #: Each quality signal's raw value per record (``bench.quality``; NaN where absent).
    quality: dict[str, np.ndarray] = field(default_factory=dict)
    #: Each signal's error-versus-discard curve on the scored pairs (none on IJB).
    edc: list[EdcResult] = field(default_factory=list)


@dataclass
class ShardResult:
    """One shard's job (``bench.pipeline.shards``): its share of the images, computed into its
    store and not evaluated."""

    #: The images of the run's list this shard computed, and their records in that order.
    share: list[int]
    records: list[ImageRecord]
    metrics: dict[str, float]
    runtime: dict[str, str]
    memory_trace: list[MemorySample] = field(default_factory=list)
