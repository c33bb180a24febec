"""YuNet (OpenCV zoo, 2023mar): a small anchor-free face detector with five landmarks.

One registry name, ``yunet``, two backends chosen by the ``backend`` option:

* ``onnxruntime`` (default): the same ONNX graph on ONNX Runtime, with OpenCV's pre- and
  post-processing redone here (``onnx_backend``); about 1.6x as fast as OpenCV on one CPU
  thread, and it runs on CUDA through ONNX Runtime's CUDA provider.
* ``opencv``: ``cv2.FaceDetectorYN`` on OpenCV DNN, CPU only.

Both give the same faces (see ``tests/test_yunet.py``). The landmarks come image-left eye
first, the documented order, so they are used exactly as the model gives them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench.assets import Asset
from bench.detectors.registry import Requirements, by_backend
from bench.detectors.yunet.options import YuNetBackend, YuNetOptions
from bench.registry import Lazy

if TYPE_CHECKING:
    from bench.plugins import PluginRegistry


#: MIT, OpenCV zoo.
WEIGHTS = Asset(
    "yunet",
    "weights/yunet/face_detection_yunet_2023mar.onnx",
    sha256="8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
    url="https://github.com/opencv/opencv_zoo/raw/main/models/face_detection_yunet/"
    "face_detection_yunet_2023mar.onnx",
)


def register(registry: PluginRegistry) -> None:
    """ONNX Runtime's session gets the detection threads; OpenCV runs on its process-wide pool,
    which the runtime sizes."""
    registry.asset(WEIGHTS)
    registry.detector(
        "yunet",
        by_backend(
            {
                YuNetBackend.onnxruntime: Lazy("bench.detectors.yunet.onnx_backend:OnnxYuNet"),
                YuNetBackend.opencv: Lazy("bench.detectors.yunet.opencv_backend:OpenCVYuNet"),
            }
        ),
        YuNetOptions,
        requires={
            YuNetBackend.onnxruntime: Requirements((WEIGHTS.name,), ("onnxruntime", "onnx", "cv2")),
            YuNetBackend.opencv: Requirements((WEIGHTS.name,), ("cv2",)),
        },
    )


__all__ = ["YuNetBackend", "YuNetOptions", "register"]
