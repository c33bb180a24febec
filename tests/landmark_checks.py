"""Geometric sanity checks shared by the detector tests."""

from __future__ import annotations

import numpy as np

from bench.alignment import ARCFACE_TEMPLATE, similarity_to_template, template_points
from bench.detectors import FIVE_POINTS, Face, select_face


def assert_landmark_order(face: Face) -> None:
    """The face's named points lie inside its box where an upright frontal face shows them: the
    image-left eye left of the image-right one, the nose and the mouth centre between the eyes,
    the nose below the eyes, the mouth points (corners, image-left one first, or the centre)
    below the nose. Works on any subset of the documented names (``bench.detectors.base``);
    every name must be a template point, the aligner fits nothing else."""
    assert face.landmarks is not None
    assert face.landmarks.shape == (len(face.landmark_names), 2), face.landmarks.shape
    assert set(face.landmark_names) <= set(ARCFACE_TEMPLATE), face.landmark_names
    x1, y1, x2, y2 = face.box
    assert np.all((face.landmarks >= [x1, y1]) & (face.landmarks <= [x2, y2])), (face.landmarks, face.box)
    point = dict(zip(face.landmark_names, face.landmarks, strict=True))
    left_eye, right_eye = point["left_eye"], point["right_eye"]
    assert left_eye[0] < right_eye[0], face.landmarks
    mouth = [point[name] for name in ("left_mouth", "right_mouth", "mouth_center") if name in point]
    if "nose" in point:
        nose = point["nose"]
        assert left_eye[0] < nose[0] < right_eye[0], face.landmarks
        assert max(left_eye[1], right_eye[1]) < nose[1], face.landmarks
        assert all(nose[1] < corner[1] for corner in mouth), face.landmarks
    if "nose_base" in point:
        base = point["nose_base"]
        assert left_eye[0] < base[0] < right_eye[0], face.landmarks
        assert max(left_eye[1], right_eye[1]) < base[1], face.landmarks
        assert all(base[1] < corner[1] for corner in mouth), face.landmarks
        assert "nose" not in point or point["nose"][1] < base[1], face.landmarks
    if "mouth_center" in point:
        assert left_eye[0] < point["mouth_center"][0] < right_eye[0], face.landmarks
    if "left_mouth" in point and "right_mouth" in point:
        assert point["left_mouth"][0] < point["right_mouth"][0], face.landmarks


def assert_plausible_face(face: Face | None, image_shape: tuple[int, ...]) -> None:
    """One frontal face near the centre, five landmarks inside its box in the documented order."""
    assert face is not None
    assert face.landmark_names == FIVE_POINTS and face.landmarks is not None
    x1, y1, x2, y2 = face.box
    height, width = image_shape[:2]
    assert abs((x1 + x2) / 2 - width / 2) < 0.2 * width and abs((y1 + y2) / 2 - height / 2) < 0.2 * height
    assert_landmark_order(face)


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
        assert a.landmark_names == b.landmark_names
        assert (a.landmarks is None) == (b.landmarks is None)
        if a.landmarks is not None:
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
