"""``center_crop``: the no-alignment baseline, which detects nothing and assumes the face sits in
the middle of the image."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from bench.config.validate import require
from bench.detectors.base import Detector, Face
from bench.detectors.options import option_key

if TYPE_CHECKING:
    from bench.plugins import PluginRegistry
    from bench.runtime import Runtime


@dataclass
class CenterCropOptions:
    #: Side of the centred square as a fraction of the image's shorter side.
    fraction: float = 0.5

    def __post_init__(self) -> None:
        require(0.0 < self.fraction <= 1.0, option_key("fraction"), "must lie in (0, 1]", self.fraction)


def center_box(height: int, width: int, fraction: float) -> np.ndarray:
    """The centred square whose side is ``fraction`` of the image's shorter side."""
    side = fraction * min(height, width)
    cx, cy = width / 2, height / 2
    return np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2], dtype=np.float32)


class CenterCropDetector(Detector):
    """A face box in the image centre, no landmarks: the aligner crops and resizes it.

    The no-alignment baseline, and the ``failure_policy=center_crop`` fallback. LFW's
    deep-funneled images put the face in the middle; ``fraction`` sets how much is kept.
    """

    def __init__(self, options: CenterCropOptions, runtime: Runtime) -> None:
        self.fraction = options.fraction

    def _detect(self, images: Sequence[np.ndarray]) -> list[list[Face]]:
        return [[Face(box=center_box(*image.shape[:2], self.fraction), score=1.0)] for image in images]


def register(registry: PluginRegistry) -> None:
    registry.detector("center_crop", CenterCropDetector, CenterCropOptions, scored=False)
