"""YOLOv8-face's options and backends: the schema of ``conf/detector/yolov8_face.yaml``."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bench.detectors.options import check_thresholds
from bench.detectors.yolo_options import InputPadding, check_input_size


class YoloV8Backend(StrEnum):
    ultralytics = "ultralytics"
    onnxruntime = "onnxruntime"


@dataclass
class YoloV8FaceOptions:
    backend: YoloV8Backend = YoloV8Backend.onnxruntime
    score_threshold: float = 0.25
    nms_threshold: float = 0.5
    #: The letterbox side: larger images are shrunk to fit it.
    input_size: int = 640
    #: onnxruntime backend: ``stride`` (``None``) pads to the next multiple of 32, ``square`` to
    #: ``input_size`` x ``input_size``. ultralytics backend: ``None`` only, Ultralytics pads as
    #: the model allows (square for the fixed export, to the stride for a ``.pt``).
    pad_to: InputPadding | None = None
    #: False: pad smaller images unscaled; true: enlarge them to fill ``input_size``.
    upscale: bool = False
    path: str | None = None

    def __post_init__(self) -> None:
        check_thresholds(self)
        check_input_size(self.input_size)
