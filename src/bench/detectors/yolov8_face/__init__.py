"""YOLOv8-face (derronqi/yolov8-face, lite-t), a YOLOv8-pose model with five face keypoints.

One registry name, ``yolov8_face``, two backends chosen by the ``backend`` option:

* ``ultralytics``: ``YOLO(path, task="pose")`` on the Ultralytics-loadable ONNX
  (the pose decode is part of the graph) or on a YOLOv8n-face ``.pt`` the user supplies;
  Ultralytics letterboxes, thresholds and runs the NMS.
* ``onnxruntime`` (default): the raw-head ONNX decoded here (DFL boxes, pose keypoints), the
  letterbox and NMS of Ultralytics, each image at its own size padded to a multiple of 32 (as
  Ultralytics' rectangular inference), same-size images stacked into one forward pass.

Images smaller than the input (LFW's 250x250) are padded unscaled, not enlarged
(``upscale: false``): enlarged 2.56x, lite-t reports spurious face-sized boxes spanning most of
the image, which the selection rule can pick (3 of 204 LFW images; none when padded).

On the export's 640 x 640 square (``pad_to: square``) both give the same faces on the same
images (see ``tests/test_yolov8_face.py``). The model's
keypoints come image-left eye first, as in the RetinaFace WIDER FACE landmark labels it was
trained on: left eye, right eye, nose, left mouth corner, right mouth corner as the image shows
them, the documented order (checked on LFW faces and their mirror images).
"""

from __future__ import annotations

from bench.config import YoloV8Backend, YoloV8FaceOptions
from bench.detectors.base import Detector
from bench.detectors.registry import Requirements, register_detector
from bench.detectors.yolov8_face.onnx_backend import OnnxYoloV8Face
from bench.detectors.yolov8_face.ultralytics_backend import UltralyticsYoloV8Face
from bench.runtime import Runtime


@register_detector(
    "yolov8_face",
    requires={
        YoloV8Backend.ultralytics: Requirements(("yolov8_face_ultralytics",), ("ultralytics", "onnxruntime")),
        YoloV8Backend.onnxruntime: Requirements(("yolov8_face",), ("onnxruntime", "onnx", "torchvision")),
    },
)
def yolov8_face(options: YoloV8FaceOptions, runtime: Runtime) -> Detector:
    """The backend ``options.backend`` names; each needs its own weights file (see the assets)."""
    if options.backend is YoloV8Backend.onnxruntime:
        return OnnxYoloV8Face(options, runtime)
    return UltralyticsYoloV8Face(options, runtime)


__all__ = ["OnnxYoloV8Face", "UltralyticsYoloV8Face", "yolov8_face"]
