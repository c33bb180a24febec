"""Geometric sanity checks shared by the detector tests."""

from __future__ import annotations

import numpy as np

from bench.alignment import similarity_to_template, template_points
from bench.detectors import FIVE_POINTS, Face, select_face


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


def apply_affine(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Points ``(N, 2)`` through a 2x3 affine matrix."""
    return points @ matrix[:, :2].T + matrix[:, 2]


def assert_same_faces(
    got: list[Face], expected: list[Face], tol: float = 1e-3, score_tol: float = 1e-4
) -> None:
    """Two detections of one image agree (batch against single, backend against backend)."""
    assert len(got) == len(expected)
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_allclose(a.box, b.box, atol=tol)
        np.testing.assert_allclose(a.landmarks, b.landmarks, atol=tol)
        assert abs(a.score - b.score) <= score_tol


def assert_central_face_chosen(
    faces: list[Face], image_shape: tuple[int, ...], extent: tuple[float, ...]
) -> None:
    """The selection rule picks the face whose centre lies in ``extent`` (x1, y1, x2, y2)."""
    chosen = select_face(faces, image_shape)
    assert chosen is not None
    cx, cy = chosen.box.reshape(2, 2).mean(0)
    x1, y1, x2, y2 = extent
    assert x1 < cx < x2 and y1 < cy < y2


def template_error(face: Face) -> np.ndarray:
    """Per-point distance (px on the 112x112 output) between the face's landmarks, after the
    aligner's similarity transform, and their template points."""
    assert face.landmarks is not None
    matrix = similarity_to_template(face.landmarks, face.landmark_names)
    return np.linalg.norm(apply_affine(matrix, face.landmarks) - template_points(face.landmark_names), axis=1)
