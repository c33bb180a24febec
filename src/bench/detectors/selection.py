"""Which face of an image is evaluated when a detector finds several.

``center_weighted`` (default) is insightface's rule for ``max_num`` detections: maximise
``box_area - weight * squared_distance(box_centre, image_centre)`` with ``weight = 2``, so a
large face wins unless it sits far from the centre. LFW puts the named person in the middle,
often with others around. ``largest`` and ``highest_score`` are the usual alternatives.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from bench.config import Selection
from bench.detectors.base import Face

SelectionRule = Callable[[Face, tuple[int, int]], float]


def _center_weighted(face: Face, image_shape: tuple[int, int], weight: float = 2.0) -> float:
    height, width = image_shape
    x1, y1, x2, y2 = face.box
    offset = np.array([(x1 + x2) / 2 - width / 2, (y1 + y2) / 2 - height / 2])
    return face.width * face.height - weight * float(offset @ offset)


RULES: dict[Selection, SelectionRule] = {
    Selection.center_weighted: _center_weighted,
    Selection.largest: lambda face, _shape: face.width * face.height,
    Selection.highest_score: lambda face, _shape: face.score,
}


def select_face(
    faces: Sequence[Face], image_shape: tuple[int, ...], rule: Selection | str = Selection.center_weighted
) -> Face | None:
    """The face to evaluate, by ``rule``; ``None`` when there is none."""
    try:
        priority = RULES[Selection(rule)]
    except ValueError:
        raise ValueError(f"unknown face selection rule {rule!r}; choose from {[*Selection]}") from None
    if not faces:
        return None
    shape = (int(image_shape[0]), int(image_shape[1]))
    return max(faces, key=lambda face: priority(face, shape))
