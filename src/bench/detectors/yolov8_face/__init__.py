"""YOLOv8-face (derronqi/yolov8-face, lite-t), a YOLOv8-pose model with five face keypoints.

One registry name, ``yolov8_face``, two backends chosen by the ``backend`` option:

* ``ultralytics`` (default): ``YOLO(path, task="pose")`` on the Ultralytics-loadable ONNX
  (the pose decode is part of the graph) or on a YOLOv8n-face ``.pt`` the user supplies;
  Ultralytics letterboxes, thresholds and runs the NMS.
* ``onnxruntime``: the raw-head ONNX decoded here (DFL boxes, pose keypoints), the same
  letterbox and NMS as Ultralytics, images stacked into one forward pass.

Images smaller than the input (LFW's 250x250) are padded unscaled, not enlarged
(``upscale: false``): enlarged 2.56x, lite-t reports spurious face-sized boxes spanning most of
the image, which the selection rule can pick (3 of 204 LFW images; none when padded).

Both give the same faces on the same images (see ``tests/test_yolov8_face.py``). The model's
keypoints come image-left eye first, as in the RetinaFace WIDER FACE landmark labels it was
trained on: left eye, right eye, nose, left mouth corner, right mouth corner as the image shows
them, the documented order (checked on LFW faces and their mirror images).
"""

from __future__ import annotations

from typing import Any

from bench.detectors.base import Detector
from bench.detectors.onnx_detector import OnnxDetector
from bench.detectors.registry import backend_class, register_detector
from bench.detectors.yolov8_face.onnx_backend import OnnxYoloV8Face
from bench.detectors.yolov8_face.ultralytics_backend import UltralyticsYoloV8Face

BACKENDS: dict[str, type[Detector]] = {
    "ultralytics": UltralyticsYoloV8Face,
    "onnxruntime": OnnxYoloV8Face,
}


@register_detector("yolov8_face")
class YoloV8FaceDetector(OnnxDetector):
    """Registry entry for both backends: building it builds the class that ``backend`` names.

    It is an ``OnnxDetector`` so that the registry hands it the hardware group's ONNX Runtime
    providers: both backends run the shipped weights on ONNX Runtime. ``__new__`` returns the
    backend's own detector; as that is not an instance of this class, Python does not run an
    ``__init__`` on it a second time.
    """

    required_assets = UltralyticsYoloV8Face.required_assets
    required_packages = UltralyticsYoloV8Face.required_packages

    def __new__(cls, device: str = "cpu", backend: str = "ultralytics", **options: Any) -> Detector:
        return backend_class("yolov8_face", BACKENDS, backend)(device=device, **options)


__all__ = ["BACKENDS", "OnnxYoloV8Face", "UltralyticsYoloV8Face", "YoloV8FaceDetector"]
