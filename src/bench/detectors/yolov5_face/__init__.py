"""YOLOv5-Face n-0.5 (deepcam-cn/yolov5-face) on ONNX Runtime (registered as ``"yolov5_face"``);
the decoding of its raw heads is described in ``detector``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench.assets import Asset
from bench.detectors.registry import Requirements
from bench.detectors.yolov5_face.options import YoloV5FaceOptions
from bench.registry import Lazy

if TYPE_CHECKING:
    from bench.plugins import PluginRegistry

#: YOLOv5-Face n-0.5 with its raw heads, exported to ONNX.
WEIGHTS = Asset(
    "yolov5_face",
    "weights/yolov5_face/yolov5n-0.5.onnx",
    sha256="7da50650e16167e93acf24caf01f15f2922ecf168c884f2825a3c95479f8687d",
    note="export yolov5n-0.5.pt of https://github.com/deepcam-cn/yolov5-face with its "
    "export.py, keeping the three raw stride heads",
)


def register(registry: PluginRegistry) -> None:
    registry.asset(WEIGHTS)
    registry.detector(
        "yolov5_face",
        Lazy("bench.detectors.yolov5_face.detector:YoloV5FaceDetector"),
        YoloV5FaceOptions,
        Requirements((WEIGHTS.name,), ("onnxruntime",)),
    )


__all__ = ["WEIGHTS", "YoloV5FaceOptions", "register"]
