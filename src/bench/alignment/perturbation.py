"""A controlled error on a face's landmarks, measured as the landmark error it makes.

Errors are relative to the inter-ocular distance (IOD), the usual normaliser of landmark error
(NME: the mean point-to-point distance over the IOD), so that one magnitude means the same on a
small face and a large one.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np

from bench.config import Perturbation, PerturbationConfig
from bench.detectors.base import Face


def inter_ocular(landmarks: np.ndarray, names: tuple[str, ...]) -> float:
    """Distance between the ``left_eye`` and ``right_eye`` points."""
    return float(np.linalg.norm(landmarks[names.index("right_eye")] - landmarks[names.index("left_eye")]))


def perturb_face(face: Face, config: PerturbationConfig, key: str) -> tuple[Face, float]:
    """``face`` with its landmarks moved as ``config`` says, drawn from ``config.seed`` and ``key``
    (the image's content key), and the NME of the move; a face without two eyes is returned unchanged."""
    names = face.landmark_names
    if face.landmarks is None or not {"left_eye", "right_eye"} <= set(names):
        return face, math.nan
    points = face.landmarks.astype(np.float64)
    iod = inter_ocular(points, names)
    entropy = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little")
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, entropy]))
    centre = points.mean(axis=0)
    magnitude = config.magnitude
    if config.kind is Perturbation.noise:
        moved = points + rng.normal(0.0, magnitude * iod, size=points.shape)
    elif config.kind is Perturbation.shift:
        angle = rng.uniform(0.0, 2 * math.pi)
        moved = points + magnitude * iod * np.array([math.cos(angle), math.sin(angle)])
    elif config.kind is Perturbation.scale:
        factor = 1 + magnitude if rng.integers(0, 2) == 0 else 1 - magnitude
        moved = centre + (points - centre) * factor
    elif config.kind is Perturbation.rotation:
        radians = math.radians(magnitude if rng.integers(0, 2) == 0 else -magnitude)
        turn = np.array([[math.cos(radians), -math.sin(radians)], [math.sin(radians), math.cos(radians)]])
        moved = centre + (points - centre) @ turn.T
    else:
        return face, 0.0
    error = float(np.linalg.norm(moved - points, axis=1).mean() / iod) if iod > 0 else math.nan
    return Face(box=face.box, score=face.score, landmarks=moved, landmark_names=names), error
