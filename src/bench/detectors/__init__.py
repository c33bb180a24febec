"""Face detectors behind one interface, created by name from a registry.

Importing this package registers every built-in method.
"""

from bench.detectors import (  # noqa: F401  (registration)
    center_crop,
    mediapipe_detection,
    mediapipe_mesh,
    mtcnn,
    retinaface,
    rtmpose,
    yolov5_face,
    yolov8_face,
    yunet,
)
from bench.detectors.base import FIVE_POINTS, Detector, Face
from bench.detectors.registry import create_detector, detector_class, list_detectors, register_detector
from bench.detectors.selection import RULES as SELECTION_RULES
from bench.detectors.selection import select_face

__all__ = [
    "FIVE_POINTS",
    "SELECTION_RULES",
    "Detector",
    "Face",
    "create_detector",
    "detector_class",
    "list_detectors",
    "register_detector",
    "select_face",
]
