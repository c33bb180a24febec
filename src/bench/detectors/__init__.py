"""Face detectors behind one interface, created by name from a registry of factories.

Importing this package registers every built-in method.
"""

from bench.detectors import (  # noqa: F401  (registration)
    center_crop,
    given,
    mediapipe_detection,
    mediapipe_mesh,
    mtcnn,
    reference,
    retinaface,
    rtmpose,
    yolov5_face,
    yolov8_face,
    yunet,
)
from bench.detectors.base import FIVE_POINTS, Detector, Face
from bench.detectors.registry import (
    DetectorEntry,
    Requirements,
    bind_options,
    create_detector,
    detector_entry,
    list_detectors,
    register_detector,
)
from bench.detectors.selection import select_face

__all__ = [
    "FIVE_POINTS",
    "Detector",
    "DetectorEntry",
    "Face",
    "Requirements",
    "bind_options",
    "create_detector",
    "detector_entry",
    "list_detectors",
    "register_detector",
    "select_face",
]
