"""Per-image quality signals, for the error-versus-discard curves that show which of them
predicts a recognition error (ISO/IEC 29794-1:2024).

``bench.quality.signals`` holds the table of signals; ``bench.quality.pose`` estimates the head's
yaw and roll from the landmarks. Both are light (numpy, OpenCV); ``bench.quality.measured``,
which needs the embedder, is imported by name where it is used.
"""

from bench.quality.pose import CANONICAL_FACE_CM, inter_ocular_distance, roll_degrees, yaw_degrees
from bench.quality.signals import (
    SIGNALS,
    Direction,
    FaceEvidence,
    QualitySignal,
    Source,
    detector_score,
    face_signals,
    quality_value,
    sharpness,
)

__all__ = [
    "CANONICAL_FACE_CM",
    "SIGNALS",
    "Direction",
    "FaceEvidence",
    "QualitySignal",
    "Source",
    "detector_score",
    "face_signals",
    "inter_ocular_distance",
    "quality_value",
    "roll_degrees",
    "sharpness",
    "yaw_degrees",
]
