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

from collections.abc import Sequence
from typing import Any

from bench.detectors.base import Detector
from bench.detectors.onnx_detector import OnnxDetector
from bench.detectors.registry import backend_class, register_detector
from bench.detectors.yunet.onnx_backend import OnnxYuNet
from bench.detectors.yunet.opencv_backend import OpenCVYuNet

BACKENDS: dict[str, type[Detector]] = {
    "onnxruntime": OnnxYuNet,
    "opencv": OpenCVYuNet,
}


@register_detector("yunet")
class YuNetDetector(OnnxDetector):
    """Registry entry for both backends: building it builds the class that ``backend`` names.

    It is an ``OnnxDetector`` so that the registry hands it the hardware group's ONNX Runtime
    providers, and its ``num_threads`` argument gets it the detection thread budget; both go to
    the ``onnxruntime`` backend only (OpenCV runs on its process-wide pool, which the runner
    sizes). ``__new__`` returns the backend's own detector; as that is not an instance of this
    class, Python does not run an ``__init__`` on it a second time.
    """

    required_assets = OnnxYuNet.required_assets
    required_packages = OnnxYuNet.required_packages

    def __new__(
        cls,
        device: str = "cpu",
        backend: str = "onnxruntime",
        providers: Sequence[str] | None = None,
        num_threads: int | None = None,
        **options: Any,
    ) -> Detector:
        implementation = backend_class("yunet", BACKENDS, backend)
        if issubclass(implementation, OnnxDetector):
            options.update(providers=providers, num_threads=num_threads)
        return implementation(device=device, **options)


__all__ = ["BACKENDS", "OnnxYuNet", "OpenCVYuNet", "YuNetDetector"]
