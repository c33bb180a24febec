"""MediaPipe Face Detection (BlazeFace) through the Tasks API ``mediapipe.tasks.vision.FaceDetector``.

BlazeFace gives a box and six keypoints: the subject's right eye, left eye, nose tip, mouth
centre, right ear tragion, left ear tragion (MediaPipe's order). The subject's right eye is the
one on the image's left, so the first two are already ``left_eye``, ``right_eye`` as ``base``
names them (checked on LFW). There are no mouth corners: the face carries the four points
``left_eye, right_eye, nose, mouth_center`` and the aligner fits that subset of the template.
The ear tragions are left out: the template has no such points and they are unreliable on
turned heads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

import mediapipe as mp
import numpy as np
from mediapipe.tasks.python import BaseOptions, vision

from bench.assets import Asset, resolve
from bench.detectors.base import Detector, Face
from bench.detectors.mediapipe_common import blazeface_task_model, cpu_device, mediapipe_asset
from bench.detectors.options import check_thresholds
from bench.detectors.registry import Requirements
from bench.runtime import Runtime

if TYPE_CHECKING:
    from bench.plugins import PluginRegistry


class BlazeFaceModel(StrEnum):
    """Short range: faces within ~2 m (128x128 input); full range: smaller, farther faces (192x192)."""

    short_range = "short_range"
    full_range = "full_range"


@dataclass
class MediaPipeDetectionOptions:
    model: BlazeFaceModel = BlazeFaceModel.short_range
    score_threshold: float = 0.5
    nms_threshold: float = 0.3
    path: str | None = None

    def __post_init__(self) -> None:
        check_thresholds(self)


#: ``model`` option -> its weights; both run in the Tasks FaceDetector.
WEIGHTS: dict[BlazeFaceModel, Asset] = {
    BlazeFaceModel.short_range: mediapipe_asset(
        "face_detection_short_range", "3bc182eb9f33925d9e58b5c8d59308a760f4adea8f282370e428c51212c26633"
    ),
    BlazeFaceModel.full_range: mediapipe_asset(
        "face_detection_full_range", "99bf9494d84f50acc6617d89873f71bf6635a841ea699c17cb3377f9507cfec3"
    ),
}
#: The keypoints used, in BlazeFace's order (its first four); names as ``base`` defines them.
LANDMARK_NAMES: tuple[str, ...] = ("left_eye", "right_eye", "nose", "mouth_center")


class MediaPipeFaceDetector(Detector):
    """BlazeFace in the Tasks ``FaceDetector``, running mode IMAGE, on the CPU.

    The Tasks API takes one image per call (no batch input), so ``detect`` loops; the task
    letterboxes each image itself, so sizes may differ. Boxes are the task's whole-pixel boxes.
    """

    def __init__(self, options: MediaPipeDetectionOptions, runtime: Runtime) -> None:
        self.device = cpu_device(runtime, "mediapipe_detection")
        self.model = options.model
        self.weights = resolve(WEIGHTS[options.model].name, options.path)
        task_options = vision.FaceDetectorOptions(
            base_options=BaseOptions(model_asset_buffer=blazeface_task_model(self.weights)),
            running_mode=vision.RunningMode.IMAGE,
            min_detection_confidence=options.score_threshold,
            min_suppression_threshold=options.nms_threshold,
        )
        self._task = vision.FaceDetector.create_from_options(task_options)

    def _detect(self, images: Sequence[np.ndarray]) -> list[list[Face]]:
        # MediaPipe reads the image's raw memory: C order.
        return [self._detect_one(np.ascontiguousarray(image)) for image in images]

    def _detect_one(self, image: np.ndarray) -> list[Face]:
        height, width = image.shape[:2]
        result = self._task.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=image))
        faces = []
        for detection in result.detections:
            box = detection.bounding_box
            corners = [box.origin_x, box.origin_y, box.origin_x + box.width, box.origin_y + box.height]
            points = [
                (point.x * width, point.y * height) for point in detection.keypoints[: len(LANDMARK_NAMES)]
            ]
            faces.append(
                Face(
                    box=np.clip(corners, 0, [width, height, width, height]),
                    score=float(detection.categories[0].score),
                    landmarks=np.array(points),
                    landmark_names=LANDMARK_NAMES,
                )
            )
        return sorted(faces, key=lambda face: -face.score)

    def close(self) -> None:
        """Close the Tasks detector now: its own ``__del__`` deadlocks when the cyclic garbage
        collector frees it (the worker thread it would wait for has already exited)."""
        self._task.close()

    def describe(self) -> dict[str, str]:
        return {
            **super().describe(),
            "detector_backend": f"mediapipe {mp.__version__} Tasks FaceDetector (CPU)",
            "detector_model": self.model,
            "detector_weights": str(self.weights),
        }


def register(registry: PluginRegistry) -> None:
    for asset in WEIGHTS.values():
        registry.asset(asset)
    registry.detector(
        "mediapipe_detection",
        MediaPipeFaceDetector,
        MediaPipeDetectionOptions,
        requires={model: Requirements((asset.name,), ("mediapipe",)) for model, asset in WEIGHTS.items()},
        variant_option="model",
    )
