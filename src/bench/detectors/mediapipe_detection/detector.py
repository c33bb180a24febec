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

import mediapipe as mp
import numpy as np
from mediapipe.tasks.python import BaseOptions, vision

from bench.assets import resolve
from bench.detectors.base import Detector, Face
from bench.detectors.mediapipe_common import blazeface_task_model, cpu_device
from bench.detectors.mediapipe_detection import WEIGHTS
from bench.detectors.mediapipe_detection.options import MediaPipeDetectionOptions
from bench.runtime import Runtime

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
