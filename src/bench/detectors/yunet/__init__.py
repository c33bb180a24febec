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

from bench.config import YuNetBackend, YuNetOptions
from bench.detectors.base import Detector
from bench.detectors.registry import Requirements, register_detector
from bench.detectors.yunet.onnx_backend import OnnxYuNet
from bench.detectors.yunet.opencv_backend import OpenCVYuNet
from bench.runtime import Runtime


@register_detector(
    "yunet",
    requires={
        YuNetBackend.onnxruntime: Requirements(("yunet",), ("onnxruntime", "onnx", "cv2")),
        YuNetBackend.opencv: Requirements(("yunet",), ("cv2",)),
    },
)
def yunet(options: YuNetOptions, runtime: Runtime) -> Detector:
    """The backend ``options.backend`` names; ONNX Runtime's session gets the detection threads,
    OpenCV runs on its process-wide pool, which the runtime sizes."""
    if options.backend is YuNetBackend.opencv:
        return OpenCVYuNet(options, runtime)
    return OnnxYuNet(options, runtime)


__all__ = ["OnnxYuNet", "OpenCVYuNet", "yunet"]
