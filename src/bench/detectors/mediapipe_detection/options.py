"""BlazeFace's options: the ``detector=mediapipe_detection`` config schema (and the mesh's
``box_detector_options``)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bench.detectors.options import check_thresholds


class BlazeFaceModel(StrEnum):
    """Short range: faces within ~2 m (128x128 input); full range: smaller, farther faces (192x192)."""

    short_range = "short_range"
    full_range = "full_range"


@dataclass
class MediaPipeDetectionOptions:
    model: BlazeFaceModel = BlazeFaceModel.short_range
    score_threshold: float = 0.5
    nms_threshold: float = 0.3
    path: str | None = None

    def __post_init__(self) -> None:
        check_thresholds(self)
