"""``detector=given``: the data set's own landmarks, as insightface aligns IJB-B/C.

IJB's release gives five points and a detector score for every loose crop; the runner reads
them from the data set (``TemplateDataset.given_face``) instead of running a detector. This
entry makes ``given`` a choice of the ``detector`` group with its schema; it has no pixels to
look at, so asked to detect it says where the landmarks come from instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bench.config import GIVEN_LANDMARKS, GivenLandmarksOptions
from bench.detectors.base import Detector, Face
from bench.detectors.registry import Requirements, register_detector
from bench.runtime import Runtime


@register_detector(GIVEN_LANDMARKS, requires=Requirements())
class GivenLandmarks(Detector):
    def __init__(self, options: GivenLandmarksOptions, runtime: Runtime) -> None:
        pass

    def detect(self, images: Sequence[np.ndarray]) -> list[list[Face]]:
        raise RuntimeError(
            "detector=given does not look at images: each face's landmarks come from the data set "
            "(dataset=ijbc or ijbb), which the benchmark runner reads"
        )
