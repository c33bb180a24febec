"""YuNet (OpenCV zoo) through ``cv2.FaceDetectorYN``."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import cv2
import numpy as np

from bench.assets import resolve
from bench.detectors.base import Detector, Face
from bench.detectors.registry import register_detector

log = logging.getLogger(__name__)


@register_detector("yunet")
class YuNetDetector(Detector):
    """OpenCV's YuNet. Its 5 landmarks come image-left eye first, the documented order, so they
    are used exactly as the model gives them. It runs on the CPU (``device`` records that)."""

    required_assets = ("yunet",)
    required_packages = ("cv2",)

    def __init__(
        self,
        device: str = "cpu",
        score_threshold: float = 0.6,
        nms_threshold: float = 0.3,
        top_k: int = 5000,
        path: str | None = None,
    ) -> None:
        if device != "cpu":
            log.warning("YuNet runs on the CPU (OpenCV DNN) whatever the hardware; %s is not used", device)
        self.weights = resolve("yunet", path)
        # OpenCV 5 warns at creation that its new graph engine ignores DNN targets: the CPU
        # default is what we want, so that warning is noise on every run.
        level = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
        try:
            self._net = cv2.FaceDetectorYN.create(
                str(self.weights), "", (320, 320), score_threshold, nms_threshold, top_k
            )
        finally:
            cv2.utils.logging.setLogLevel(level)
        self._input_size: tuple[int, int] = (320, 320)

    def detect(self, images: Sequence[np.ndarray]) -> list[list[Face]]:
        return [self._detect_one(image) for image in images]

    def _detect_one(self, image: np.ndarray) -> list[Face]:
        height, width = image.shape[:2]
        if (width, height) != self._input_size:
            self._net.setInputSize((width, height))
            self._input_size = (width, height)
        _, rows = self._net.detect(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        if rows is None:
            return []
        faces = []
        for row in rows:
            x, y, w, h = row[:4]
            box = np.clip([x, y, x + w, y + h], 0, [width, height, width, height])
            faces.append(Face(box=box, score=float(row[14]), landmarks=row[4:14].reshape(5, 2)))
        return sorted(faces, key=lambda face: -face.score)

    def describe(self) -> dict[str, str]:
        return {
            **super().describe(),
            "detector_backend": f"opencv {cv2.__version__}",
            "detector_weights": str(self.weights),
        }
