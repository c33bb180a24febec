"""YOLOv5-Face's options: the ``detector=yolov5_face`` config schema."""

from __future__ import annotations

from dataclasses import dataclass

from bench.detectors.options import check_thresholds
from bench.detectors.yolo_options import InputPadding, check_input_size


@dataclass
class YoloV5FaceOptions:
    #: On objectness x class.
    score_threshold: float = 0.5
    nms_threshold: float = 0.5
    #: The letterbox side: larger images are shrunk to fit it.
    input_size: int = 640
    #: ``stride``: pad to the next multiple of 32 (an image runs at about its own size);
    #: ``square``: pad to ``input_size`` x ``input_size``, as the reference.
    pad_to: InputPadding = InputPadding.stride
    #: True: enlarge small images to fill ``input_size`` (as the reference); false: pad only.
    upscale: bool = False
    path: str | None = None

    def __post_init__(self) -> None:
        check_thresholds(self)
        check_input_size(self.input_size)
