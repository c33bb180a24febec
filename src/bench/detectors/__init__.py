"""Face detectors behind one interface, created by name from a registry of factories.

Importing this package registers nothing: each method's module registers itself through its
``register(registry)``, which ``bench.plugins.load_plugins`` calls.
"""

from bench.detectors.base import FIVE_POINTS, Detector, Face, NoFaceError, check_images
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
    "NoFaceError",
    "Requirements",
    "bind_options",
    "check_images",
    "create_detector",
    "detector_entry",
    "list_detectors",
    "register_detector",
    "select_face",
]
