"""One aligner for every method: similarity transform to the template, then a warp."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from skimage.transform import SimilarityTransform

from bench.alignment.template import ALIGNED_SIZE, template_points
from bench.detectors.base import Face


def similarity_to_template(
    landmarks: np.ndarray, names: tuple[str, ...], size: int = ALIGNED_SIZE
) -> np.ndarray:
    """The 2x3 least-squares similarity (rotation, uniform scale, translation) mapping the
    named landmarks onto the template: Umeyama's estimate, as insightface's ``norm_crop``."""
    if len(names) < 2:
        raise ValueError(f"a similarity transform needs at least 2 points, got {names}")
    transform = SimilarityTransform.from_estimate(
        np.asarray(landmarks, dtype=np.float64), template_points(names, size)
    ) if hasattr(SimilarityTransform, "from_estimate") else _estimate_legacy(landmarks, names, size)
    return np.asarray(transform.params[:2], dtype=np.float64)
