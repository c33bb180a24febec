"""An ablation as a plugin: bench's ``dlib_hog`` aligned on the two eyes alone, without the nose
base its 5-point predictor also gives: what does the third point buy? Imported only when a run
builds it (``Lazy`` in ``register``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bench.detectors import Face
from bench.detectors.dlib.detector import DlibHogDetector

EYES = ("left_eye", "right_eye")


class EyesOnlyDlibHog(DlibHogDetector):
    """The built-in detector's faces, each keeping only its eye centres."""

    def _detect(self, images: Sequence[np.ndarray]) -> list[list[Face]]:
        return [[_eyes_only(face) for face in faces] for faces in super()._detect(images)]


def _eyes_only(face: Face) -> Face:
    assert face.landmarks is not None
    keep = [face.landmark_names.index(name) for name in EYES]
    return Face(box=face.box, score=face.score, landmarks=face.landmarks[keep], landmark_names=EYES)
