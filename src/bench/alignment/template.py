"""The ArcFace 112x112 landmark template (insightface ``arcface_dst``)."""

from __future__ import annotations

import numpy as np

from bench.detectors.base import FIVE_POINTS

ALIGNED_SIZE = 112

ARCFACE_TEMPLATE: dict[str, tuple[float, float]] = dict(
    zip(
        FIVE_POINTS,
        (
            (38.2946, 51.6963),
            (73.5318, 51.5014),
            (56.0252, 71.7366),
            (41.5493, 92.3655),
            (70.7299, 92.2041),
        ),
        strict=True,
    )
)
# Methods without mouth corners (BlazeFace) give the mouth centre: the corners' midpoint.
ARCFACE_TEMPLATE["mouth_center"] = tuple(
    np.mean([ARCFACE_TEMPLATE["left_mouth"], ARCFACE_TEMPLATE["right_mouth"]], axis=0).tolist()
)


def template_points(names: tuple[str, ...], size: int = ALIGNED_SIZE) -> np.ndarray:
    """Template coordinates of the named points, scaled to a ``size`` x ``size`` output."""
    unknown = [name for name in names if name not in ARCFACE_TEMPLATE]
    if unknown:
        raise KeyError(f"no template point for {unknown}; known: {sorted(ARCFACE_TEMPLATE)}")
    points = np.array([ARCFACE_TEMPLATE[name] for name in names], dtype=np.float64)
    return points * (size / ALIGNED_SIZE)
