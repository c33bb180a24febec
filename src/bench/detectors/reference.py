"""Reference landmarks: per image, the median of several detectors' landmarks.

No single detector is ground truth on LFW (it has no landmark annotations), so the reference for
landmark error (NME) and for the alignment-tolerance curve is the per-point median of the faces
that ``methods`` (five-point detectors, each with its default options) choose by the default
selection rule. An image gets a reference only where at least ``min_methods`` of them find a
face; the median of three or more is robust to one method choosing another face or slipping.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from bench.config.validate import require
from bench.detectors.base import FIVE_POINTS, Detector, Face
from bench.detectors.options import option_key
from bench.detectors.registry import create_detector
from bench.detectors.selection import select_face

if TYPE_CHECKING:
    from bench.plugins import PluginRegistry
    from bench.runtime import Runtime


@dataclass
class ReferenceOptions:
    #: Five-point detectors whose landmarks are combined, each with its default options.
    methods: list[str] = field(default_factory=lambda: ["retinaface", "mtcnn", "yunet", "yolov5_face"])
    #: Fewest of them that must find the face for the image to get a reference.
    min_methods: int = 3

    def __post_init__(self) -> None:
        require(
            len(set(self.methods)) == len(self.methods) and "reference" not in self.methods,
            option_key("methods"),
            "must name distinct detectors other than reference",
            self.methods,
        )
        require(
            3 <= self.min_methods <= len(self.methods),
            option_key("min_methods"),
            f"must lie in [3, {len(self.methods)}] (a median of at least three)",
            self.min_methods,
        )


def median_face(faces: Sequence[Face], min_methods: int) -> Face | None:
    """The per-coordinate median of ``faces`` (one per method, five points each); ``None`` when
    fewer than ``min_methods`` are given. Its score is the share of them that agree, 1.0 here."""
    if len(faces) < min_methods:
        return None
    landmarks = np.median(np.stack([face.landmarks for face in faces]), axis=0)
    box = np.median(np.stack([face.box for face in faces]), axis=0)
    return Face(box=box, score=1.0, landmarks=landmarks)


class ReferenceDetector(Detector):
    """The median face of ``methods``; requirements and weights are those of the methods."""

    def __init__(self, options: ReferenceOptions, runtime: Runtime) -> None:
        self.min_methods = options.min_methods
        self.methods = {name: create_detector(name, runtime) for name in options.methods}
        self.device = runtime.device_name

    def _detect(self, images: Sequence[np.ndarray]) -> list[list[Face]]:
        found = {name: detector.detect(images) for name, detector in self.methods.items()}
        faces: list[list[Face]] = []
        for index, image in enumerate(images):
            chosen = []
            for name in self.methods:
                face = select_face(found[name][index], image.shape[:2])
                if face is None:
                    continue
                if face.landmarks is None or face.landmark_names != FIVE_POINTS:
                    gives = "no landmarks" if face.landmarks is None else ", ".join(face.landmark_names)
                    raise ValueError(
                        f"detector.options.methods: {name} gives {gives}, not the five points "
                        f"({', '.join(FIVE_POINTS)}) that a reference is the median of"
                    )
                chosen.append(face)
            reference = median_face(chosen, self.min_methods)
            faces.append([] if reference is None else [reference])
        return faces

    def close(self) -> None:
        for detector in self.methods.values():
            detector.close()

    def describe(self) -> dict[str, str]:
        return {
            **super().describe(),
            "detector_reference_methods": ",".join(self.methods),
            "detector_reference_min_methods": str(self.min_methods),
        }


def register(registry: PluginRegistry) -> None:
    # The median of other methods: a reference to measure them against, not a method to rank.
    registry.detector("reference", ReferenceDetector, ReferenceOptions, compared=False, scored=False)
