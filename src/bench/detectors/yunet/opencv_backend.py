"""YuNet through ``cv2.FaceDetectorYN``, the ``opencv`` backend; OpenCV DNN on the CPU."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import cv2
import numpy as np

from bench.assets import resolve
from bench.detectors.base import Detector, Face
from bench.detectors.yunet.options import YuNetOptions
from bench.detectors.yunet.rows import faces_from_rows
from bench.runtime import Runtime

log = logging.getLogger(__name__)


class OpenCVYuNet(Detector):
    """OpenCV's YuNet, one image per call (``setInputSize`` follows each image's size). It runs
    on the CPU whatever the runtime's device (``device`` records that)."""

    def __init__(self, options: YuNetOptions, runtime: Runtime) -> None:
        if runtime.is_cuda:
            log.warning(
                "YuNet (opencv) runs on the CPU (OpenCV DNN) whatever the hardware; %s is not used",
                runtime.device_name,
            )
        self.weights = resolve("yunet", options.path)
        # OpenCV 5 warns at creation that its new graph engine ignores DNN targets: the CPU
        # default is what we want, so that warning is noise on every run.
        level = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
        try:
            self._net = cv2.FaceDetectorYN.create(
                str(self.weights),
                "",
                (320, 320),
                options.score_threshold,
                options.nms_threshold,
                options.top_k,
            )
        finally:
            cv2.utils.logging.setLogLevel(level)
        self._input_size: tuple[int, int] = (320, 320)

    def _detect(self, images: Sequence[np.ndarray]) -> list[list[Face]]:
        return [self._detect_one(image) for image in images]

    def _detect_one(self, image: np.ndarray) -> list[Face]:
        height, width = image.shape[:2]
        if (width, height) != self._input_size:
            self._net.setInputSize((width, height))
            self._input_size = (width, height)
        _, rows = self._net.detect(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        return faces_from_rows(rows, image.shape)

    def describe(self) -> dict[str, str]:
        return {
            **super().describe(),
            "detector_backend": f"opencv {cv2.__version__}",
            "detector_provider": "OpenCV DNN (CPU)",
            "detector_weights": str(self.weights),
        }
