"""Per-image quality signals and the table that defines them.

``SIGNALS`` is the only place that defines a signal: its name, unit, which way is better, a line
saying what it measures, and the function computing it. The error-versus-discard curves and
``quality.csv`` take every signal from it.

A signal is computed from the chosen face (its score and landmarks, in the original image's
pixels), which the cached detection gives back, or from the aligned crop as the model saw it and
the network's features of it, which are gone after embedding: ``bench.quality.measured``
measures those while embedding, and the run caches them beside the embedding.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import overload

import cv2
import numpy as np

from bench.detectors.base import Face
from bench.quality.pose import inter_ocular_distance, roll_degrees, yaw_degrees


class Direction(StrEnum):
    """Which raw values mean a better face."""

    HIGHER_IS_BETTER = "higher_is_better"
    #: An angle: its size is what matters, whichever way the head turns.
    NEARER_ZERO_IS_BETTER = "nearer_zero_is_better"


class Source(StrEnum):
    """What a signal is computed from."""

    #: The chosen face: its score and landmarks.
    FACE = "face"
    #: The aligned crop, ``HxWx3`` ``uint8`` RGB as the model saw it.
    CROP = "crop"
    #: The recognition network's features of the crop.
    MODEL = "model"


@dataclass(frozen=True)
class FaceEvidence:
    """What the signals of one image are computed from."""

    #: The chosen face, in the original image's pixels.
    face: Face
    #: Whether ``face.score`` is the method's confidence. It is not for a fallback crop, nor for a
    #: method whose faces all carry a placeholder 1.0 (``center_crop``, ``reference``, ``none``).
    score_is_confidence: bool
    #: The crop's and the network's signals, measured as the face was embedded and cached with
    #: its embedding (``bench.quality.measured``); a signal not measured is absent.
    measured: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class QualitySignal:
    """One row of ``SIGNALS``."""

    name: str
    unit: str
    direction: Direction
    description: str
    source: Source
    compute: Callable[[FaceEvidence], float]


def detector_score(face: Face, score_is_confidence: bool) -> float:
    """The face's score where it is the method's confidence, else NaN."""
    return float(face.score) if score_is_confidence else math.nan


def sharpness(crop: np.ndarray) -> float:
    """The variance of the Laplacian of the crop in grey levels: the classic focus measure
    (Pech-Pacheco et al., ICPR 2000), with OpenCV's 3x3 aperture. It depends on the crop's size
    and content, so values compare within one model's crops only. The black fill of a face warped
    from beyond the image's border makes strong edges and raises it."""
    if crop.ndim != 3 or crop.shape[2] != 3 or crop.dtype != np.uint8:
        raise ValueError(f"crop is {crop.dtype} of shape {crop.shape}; expected HxWx3 uint8 RGB")
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def _measured(name: str) -> Callable[[FaceEvidence], float]:
    """A signal of the crop or the network: the value measured at embedding time, if any."""
    return lambda evidence: evidence.measured.get(name, math.nan)


_SIGNALS = (
    QualitySignal(
        "detector_score",
        "the method's score",
        Direction.HIGHER_IS_BETTER,
        "the detector's confidence in the face; its scale is the method's own",
        Source.FACE,
        lambda evidence: detector_score(evidence.face, evidence.score_is_confidence),
    ),
    QualitySignal(
        "iod_px",
        "px",
        Direction.HIGHER_IS_BETTER,
        "inter-ocular distance in the original image: the face's resolution",
        Source.FACE,
        lambda evidence: inter_ocular_distance(evidence.face),
    ),
    QualitySignal(
        "yaw_deg",
        "deg",
        Direction.NEARER_ZERO_IS_BETTER,
        "head yaw from the nose tip's offset beside the eye-mouth axis (bench.quality.pose)",
        Source.FACE,
        lambda evidence: yaw_degrees(evidence.face),
    ),
    QualitySignal(
        "roll_deg",
        "deg",
        Direction.NEARER_ZERO_IS_BETTER,
        "in-plane tilt of the eye line",
        Source.FACE,
        lambda evidence: roll_degrees(evidence.face),
    ),
    QualitySignal(
        "sharpness",
        "grey level^2",
        Direction.HIGHER_IS_BETTER,
        "variance of the Laplacian of the aligned crop: focus and blur",
        Source.CROP,
        _measured("sharpness"),
    ),
    QualitySignal(
        "embedding_norm",
        "the features' scale",
        Direction.HIGHER_IS_BETTER,
        "L2 norm of the network's features before normalising: low for a face it is unsure of",
        Source.MODEL,
        _measured("embedding_norm"),
    ),
    QualitySignal(
        "mirror_agreement",
        "cosine",
        Direction.HIGHER_IS_BETTER,
        "cosine between the features of the crop and of its mirror image: identity stability",
        Source.MODEL,
        _measured("mirror_agreement"),
    ),
)

#: Every quality signal by name, in the order of a table's columns.
SIGNALS: Mapping[str, QualitySignal] = {signal.name: signal for signal in _SIGNALS}


def face_signals(
    face: Face, *, score_is_confidence: bool, measured: Mapping[str, float] | None = None
) -> dict[str, float]:
    """Name -> raw value of every signal, NaN where the face lacks what it needs or it was not
    measured (``measured``: the crop's and the network's, from ``bench.quality.measured``)."""
    evidence = FaceEvidence(face, score_is_confidence, measured or {})
    return {name: signal.compute(evidence) for name, signal in SIGNALS.items()}


@overload
def quality_value(name: str, raw: float) -> float: ...
@overload
def quality_value(name: str, raw: np.ndarray) -> np.ndarray: ...
def quality_value(name: str, raw: float | np.ndarray) -> float | np.ndarray:
    """Signal ``name``'s raw value(s) turned so that higher means better, as the error-versus-
    discard curve ranks them: unchanged, or minus the size of an angle. NaN stays NaN."""
    if name not in SIGNALS:
        raise KeyError(f"unknown quality signal {name!r}; known: {', '.join(SIGNALS)}")
    values = np.asarray(raw, dtype=np.float64)
    if SIGNALS[name].direction is Direction.NEARER_ZERO_IS_BETTER:
        values = -np.abs(values)
    return float(values) if np.ndim(raw) == 0 else values
