"""YuNet detections as ``FaceDetectorYN`` lays them out, turned into ``Face`` objects.

Both backends produce the same ``(N, 15)`` float32 rows (box ``x, y, w, h``, five landmarks
``x, y``, score), so one conversion keeps their faces identical.
"""

from __future__ import annotations

import numpy as np

from bench.detectors.base import Face


def faces_from_rows(rows: np.ndarray | None, shape: tuple[int, ...]) -> list[Face]:
    """Faces best score first, boxes clipped to the image, landmarks as the model gives them
    (image-left eye first, the documented order)."""
    if rows is None:
        return []
    height, width = shape[:2]
    faces = []
    for row in rows:
        x, y, w, h = row[:4]
        box = np.clip([x, y, x + w, y + h], 0, [width, height, width, height])
        faces.append(Face(box=box, score=float(row[14]), landmarks=row[4:14].reshape(5, 2)))
    return sorted(faces, key=lambda face: -face.score)
