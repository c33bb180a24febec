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

from typing import TYPE_CHECKING

from bench.assets import Asset
from bench.detectors.registry import Requirements, by_backend
from bench.detectors.yolov8_face.options import YoloV8Backend, YoloV8FaceOptions
from bench.registry import Lazy

if TYPE_CHECKING:
    from bench.plugins import PluginRegistry


#: The raw-head export, for the onnxruntime backend.
ONNX_WEIGHTS = Asset(
    "yolov8_face",
    "weights/yolov8_face/yolov8-lite-t.onnx",
    sha256="caa9eb121eee8fbf25a5985d3cee4e314df5a08feb4bb8c224fecdeb4afd9b86",
    note="YOLOv8-face lite-t of https://github.com/derronqi/yolov8-face exported to ONNX with its raw heads",
)
#: The export with the pose decode in the graph, for the ultralytics backend.
ULTRALYTICS_WEIGHTS = Asset(
    "yolov8_face_ultralytics",
    "weights/yolov8_face/yolov8-lite-t-ultralytics.onnx",
    sha256="9c8068d5af5784a4d8f957303cb6e112c7b8e5983b79f17efc0142108072a5b1",
    note="YOLOv8-face lite-t with the YOLOv8-pose decode appended (output [1,20,8400]), "
    "or pass a YOLOv8n-face .pt of https://github.com/derronqi/yolov8-face as the path",
)


def register(registry: PluginRegistry) -> None:
    """Each backend needs its own weights file (see the assets)."""
    registry.asset(ONNX_WEIGHTS)
    registry.asset(ULTRALYTICS_WEIGHTS)
    implementations = {
        YoloV8Backend.onnxruntime: Lazy("bench.detectors.yolov8_face.onnx_backend:OnnxYoloV8Face"),
        YoloV8Backend.ultralytics: Lazy(
            "bench.detectors.yolov8_face.ultralytics_backend:UltralyticsYoloV8Face"
        ),
    }
    registry.detector(
        "yolov8_face",
        by_backend(implementations),
        YoloV8FaceOptions,
        requires={
            YoloV8Backend.ultralytics: Requirements(
                (ULTRALYTICS_WEIGHTS.name,), ("ultralytics", "onnxruntime")
            ),
            YoloV8Backend.onnxruntime: Requirements(
                (ONNX_WEIGHTS.name,), ("onnxruntime", "onnx", "torchvision")
            ),
        },
    )


__all__ = ["YoloV8Backend", "YoloV8FaceOptions", "register"]
