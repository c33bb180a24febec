"""Geometric sanity checks shared by the detector tests."""

from __future__ import annotations

import numpy as np

from bench.detectors import FIVE_POINTS, Face


def assert_plausible_face(face: Face | None, image_shape: tuple[int, ...]) -> None:
    """One frontal face near the centre, landmarks inside its box in the documented order."""
    assert face is not None
    assert face.landmark_names == FIVE_POINTS and face.landmarks is not None
    x1, y1, x2, y2 = face.box
    height, width = image_shape[:2]
    assert abs((x1 + x2) / 2 - width / 2) < 0.2 * width and abs((y1 + y2) / 2 - height / 2) < 0.2 * height
    assert np.all(face.landmarks[:, 0] >= x1) and np.all(face.landmarks[:, 0] <= x2)
    assert np.all(face.landmarks[:, 1] >= y1) and np.all(face.landmarks[:, 1] <= y2)
    left_eye, right_eye, nose, left_mouth, right_mouth = face.landmarks
    assert left_eye[0] < right_eye[0] and left_mouth[0] < right_mouth[0]
    assert max(left_eye[1], right_eye[1]) < nose[1] < min(left_mouth[1], right_mouth[1])
