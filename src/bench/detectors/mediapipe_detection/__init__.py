"""MediaPipe Face Detection (BlazeFace) through the Tasks API (registered as
``"mediapipe_detection"``); the keypoints it gives are described in ``detector``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench.assets import Asset
from bench.detectors.mediapipe_common import mediapipe_asset
from bench.detectors.mediapipe_detection.options import BlazeFaceModel, MediaPipeDetectionOptions
from bench.detectors.registry import Requirements
from bench.registry import Lazy

if TYPE_CHECKING:
    from bench.plugins import PluginRegistry

#: ``model`` option -> its weights; both run in the Tasks FaceDetector.
WEIGHTS: dict[BlazeFaceModel, Asset] = {
    BlazeFaceModel.short_range: mediapipe_asset(
        "face_detection_short_range", "3bc182eb9f33925d9e58b5c8d59308a760f4adea8f282370e428c51212c26633"
    ),
    BlazeFaceModel.full_range: mediapipe_asset(
        "face_detection_full_range", "99bf9494d84f50acc6617d89873f71bf6635a841ea699c17cb3377f9507cfec3"
    ),
}


def register(registry: PluginRegistry) -> None:
    for asset in WEIGHTS.values():
        registry.asset(asset)
    registry.detector(
        "mediapipe_detection",
        Lazy("bench.detectors.mediapipe_detection.detector:MediaPipeFaceDetector"),
        MediaPipeDetectionOptions,
        requires={model: Requirements((asset.name,), ("mediapipe",)) for model, asset in WEIGHTS.items()},
        variant_option="model",
    )


__all__ = ["WEIGHTS", "BlazeFaceModel", "MediaPipeDetectionOptions", "register"]
