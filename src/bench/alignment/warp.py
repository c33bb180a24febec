"""One aligner for every method: similarity transform to the template, then a warp."""

from __future__ import annotations

import cv2
import numpy as np

from bench.alignment.template import ALIGNED_SIZE, template_points
from bench.detectors.base import Face


def similarity_to_template(
    landmarks: np.ndarray, names: tuple[str, ...], size: int = ALIGNED_SIZE
) -> np.ndarray:
    """The 2x3 least-squares similarity (rotation, uniform scale, translation) taking the named
    landmarks onto the template: Umeyama's estimate, as in insightface's ``norm_crop``.

    In 2-D that estimate has a closed form: with points as complex numbers, ``template ~ a z + t``
    is a linear least-squares fit whose ``a`` (scale times rotation) is one complex division.
    It equals scikit-image's ``SimilarityTransform`` to rounding (a test checks) at a fifth of
    its cost, which matters on the thread that detects and aligns every image.
    """
    if len(names) < 2:
        raise ValueError(f"a similarity transform needs at least 2 points, got {names}")
    source = _as_complex(np.asarray(landmarks, dtype=np.float64))
    target = _as_complex(template_points(names, size))
    source_centred = source - source.mean()
    spread = np.vdot(source_centred, source_centred).real
    if not spread > 0:
        raise ValueError(f"degenerate landmarks, no similarity transform: {np.asarray(landmarks).tolist()}")
    rotation_scale = np.vdot(source_centred, target - target.mean()) / spread
    shift = target.mean() - rotation_scale * source.mean()
    a, b = rotation_scale.real, rotation_scale.imag
    return np.array([[a, -b, shift.real], [b, a, shift.imag]])


def _as_complex(points: np.ndarray) -> np.ndarray:
    return points[:, 0] + 1j * points[:, 1]


def box_to_square(box: np.ndarray, size: int = ALIGNED_SIZE) -> np.ndarray:
    """The 2x3 scale + translation that maps the square around ``box``'s centre (side = the
    box's longer side) onto ``size`` x ``size``: a plain crop, for faces without landmarks."""
    x1, y1, x2, y2 = (float(v) for v in box)
    side = max(x2 - x1, y2 - y1)
    scale = size / side
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    return np.array([[scale, 0, size / 2 - scale * cx], [0, scale, size / 2 - scale * cy]])


def face_transform(face: Face, size: int = ALIGNED_SIZE) -> np.ndarray:
    """The warp for one face: landmarks to template when it has them, else its box crop."""
    if face.landmarks is None:
        return box_to_square(face.box, size)
    return similarity_to_template(face.landmarks, face.landmark_names, size)


def align_face(image: np.ndarray, face: Face, size: int = ALIGNED_SIZE) -> np.ndarray:
    """Warp ``image`` so that ``face`` lands on the ``size`` x ``size`` ArcFace template."""
    matrix = face_transform(face, size)
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderValue=0)
