"""What the two YOLO methods' options share (``yolov5_face``, ``yolov8_face``): the padding
choice and the input-size check against their heads' coarsest stride."""

from __future__ import annotations

from enum import StrEnum

from bench.config.validate import require
from bench.detectors.options import option_key

#: The coarsest stride of the YOLO detectors' heads: inputs are multiples of it.
YOLO_STRIDE = 32


class InputPadding(StrEnum):
    """How far a letterboxed image is padded: to the next multiple of the network's stride (a
    250x250 image runs at 256x256), or to the full ``input_size`` square of the published recipe."""

    stride = "stride"
    square = "square"


def check_input_size(input_size: int) -> None:
    require(
        input_size >= YOLO_STRIDE and input_size % YOLO_STRIDE == 0,
        option_key("input_size"),
        f"must be a positive multiple of {YOLO_STRIDE} pixels",
        input_size,
    )
