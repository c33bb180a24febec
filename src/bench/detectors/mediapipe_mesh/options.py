"""Face Mesh's options: the ``detector=mediapipe_mesh`` config schema, BlazeFace's nested."""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.config.validate import require
from bench.detectors.mediapipe_detection.options import MediaPipeDetectionOptions
from bench.detectors.options import check_unit, option_key


@dataclass
class MediaPipeMeshOptions:
    #: The mesh's face-presence probability below which a face is dropped.
    score_threshold: float = 0.5
    #: Crop side / BlazeFace box's longer side.
    roi_scale: float = 1.5
    #: The 468-point face mesh ``.tflite``.
    path: str | None = None
    #: The BlazeFace detector whose boxes and eyes place the mesh's crops.
    box_detector_options: MediaPipeDetectionOptions = field(default_factory=MediaPipeDetectionOptions)

    def __post_init__(self) -> None:
        check_unit("score_threshold", self.score_threshold)
        require(self.roi_scale > 0, option_key("roi_scale"), "must be positive", self.roi_scale)
