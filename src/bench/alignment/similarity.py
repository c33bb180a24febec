"""The least-squares similarity (rotation, uniform scale, translation) between two point sets:
numpy only, so templates can be derived at start-up without OpenCV."""

from __future__ import annotations

import numpy as np


def fit_similarity(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The 2x3 similarity taking ``source`` points onto ``target`` in the least-squares sense:
    Umeyama's estimate, as in insightface's ``norm_crop``.

    In 2-D that estimate has a closed form: with points as complex numbers, ``target ~ a z + t``
    is a linear least-squares fit whose ``a`` (scale times rotation) is one complex division.
    It equals scikit-image's ``SimilarityTransform`` to rounding (a test checks) at a fifth of
    its cost, which matters on the thread that detects and aligns every image.
    """
    source_points = np.asarray(source, dtype=np.float64)
    if len(source_points) < 2:
        raise ValueError(f"a similarity transform needs at least 2 points, got {len(source_points)}")
    z = _as_complex(source_points)
    w = _as_complex(np.asarray(target, dtype=np.float64))
    z_centred = z - z.mean()
    spread = np.vdot(z_centred, z_centred).real
    if not spread > 0:
        raise ValueError(f"degenerate landmarks, no similarity transform: {source_points.tolist()}")
    rotation_scale = np.vdot(z_centred, w - w.mean()) / spread
    shift = w.mean() - rotation_scale * z.mean()
    a, b = rotation_scale.real, rotation_scale.imag
    return np.array([[a, -b, shift.real], [b, a, shift.imag]])


def apply_similarity(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """``(K, 2)`` points mapped by a 2x3 affine matrix."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return points @ matrix[:, :2].T + matrix[:, 2]


def _as_complex(points: np.ndarray) -> np.ndarray:
    return points[:, 0] + 1j * points[:, 1]
