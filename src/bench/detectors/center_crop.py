"""Baselines that detect nothing: they say where the face is assumed to be."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bench.config import CenterCropOptions, PassthroughOptions
from bench.detectors.base import Detector, Face
from bench.detectors.registry import Requirements, register_detector
from bench.runtime import Runtime


def center_box(height: int, width: int, fraction: float) -> np.ndarray:
    """The centred square whose side is ``fraction`` of the image's shorter side."""
    side = fraction * min(height, width)
    cx, cy = width / 2, height / 2
    return np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2], dtype=np.float32)


@register_detector("center_crop", requires=Requirements())
class CenterCropDetector(Detector):
    """A face box in the image centre, no landmarks: the aligner crops and resizes it.

    The no-alignment baseline, and the ``failure_policy=center_crop`` fallback. LFW's
    deep-funneled images put the face in the middle; ``fraction`` sets how much is kept.
    """

    def __init__(self, options: CenterCropOptions, runtime: Runtime) -> None:
        self.fraction = options.fraction

    def detect(self, images: Sequence[np.ndarray]) -> list[list[Face]]:
        return [[Face(box=center_box(*image.shape[:2], self.fraction), score=1.0)] for image in images]


@register_detector("none", requires=Requirements(), passthrough=True)
class WholeImageDetector(Detector):
    """The whole image is the face: for data sets that are already aligned (``lfw_aligned``),
    so that the model sees exactly the reference crops: no detection, no warp."""

    def __init__(self, options: PassthroughOptions, runtime: Runtime) -> None:
        pass

    def detect(self, images: Sequence[np.ndarray]) -> list[list[Face]]:
        return [[Face(box=[0, 0, image.shape[1], image.shape[0]], score=1.0)] for image in images]
