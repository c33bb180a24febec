"""One aligner for every method: similarity transform to the template, then a warp."""

from __future__ import annotations

import cv2
import numpy as np

from bench.alignment.similarity import fit_similarity
from bench.alignment.template import ALIGNED_SIZE, ARCFACE_112, Template
from bench.detectors.base import Face


def similarity_to_template(
    landmarks: np.ndarray,
    names: tuple[str, ...],
    size: int = ALIGNED_SIZE,
    template: Template = ARCFACE_112,
) -> np.ndarray:
    """The 2x3 least-squares similarity taking the named landmarks onto ``template``'s points in a
    ``size`` x ``size`` crop (``bench.alignment.similarity``, which refuses fewer than 2)."""
    return fit_similarity(np.asarray(landmarks, dtype=np.float64), template.points_for(names, size))


def box_to_square(box: np.ndarray, size: int = ALIGNED_SIZE) -> np.ndarray:
    """The 2x3 scale + translation that maps the square around ``box``'s centre (side = the
    box's longer side) onto ``size`` x ``size``: a plain crop, for faces without landmarks."""
    x1, y1, x2, y2 = (float(v) for v in box)
    side = max(x2 - x1, y2 - y1)
    scale = size / side
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    return np.array([[scale, 0, size / 2 - scale * cx], [0, scale, size / 2 - scale * cy]])


def face_transform(face: Face, size: int = ALIGNED_SIZE, template: Template = ARCFACE_112) -> np.ndarray:
    """The warp for one face: landmarks to template when it has them, else its box crop."""
    if face.landmarks is None:
        return box_to_square(face.box, size)
    return similarity_to_template(face.landmarks, face.landmark_names, size, template)


def align_face(
    image: np.ndarray, face: Face, size: int = ALIGNED_SIZE, template: Template = ARCFACE_112
) -> np.ndarray:
    """Warp ``image`` so that ``face`` lands on ``template`` in a ``size`` x ``size`` crop."""
    matrix = face_transform(face, size, template)
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderValue=0)
