"""Resize an image into a fixed network input and map the network's coordinates back.

Coordinates are continuous pixel-edge coordinates (``0`` is the left edge of the first
pixel), in which a resize by ``s`` is exactly ``x * s``; the detectors' boxes and landmarks
live in the same convention, so going back is ``(x - pad) / s`` per axis.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from bench.detectors.base import Face


@dataclass(frozen=True)
class Placement:
    """Where an image landed inside the network input: per-axis scale, then offset."""

    scale_x: float
    scale_y: float
    pad_x: int = 0
    pad_y: int = 0

    def to_image(self, xy: np.ndarray) -> np.ndarray:
        """Map ``(..., 2)`` ``(x, y)`` points from the network input back to the image."""
        offset = np.array([self.pad_x, self.pad_y], dtype=np.float32)
        scale = np.array([self.scale_x, self.scale_y], dtype=np.float32)
        return (np.asarray(xy, dtype=np.float32) - offset) / scale


def resize(image: np.ndarray, scale: float) -> tuple[np.ndarray, Placement]:
    """``image`` scaled by ``scale`` (area averaging when shrinking, bilinear when growing,
    as YOLOv5 does), with the exact per-axis scales that rounding to whole pixels gave."""
    height, width = image.shape[:2]
    if scale == 1.0:
        return image, Placement(1.0, 1.0)
    new_width, new_height = max(1, round(width * scale)), max(1, round(height * scale))
    interpolation = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
    resized = cv2.resize(image, (new_width, new_height), interpolation=interpolation)
    return resized, Placement(new_width / width, new_height / height)


def letterbox(
    image: np.ndarray, size: int, upscale: bool = True, fill: int = 114, stride: int | None = None
) -> tuple[np.ndarray, Placement]:
    """``image`` fitted into a ``size`` x ``size`` square, aspect kept, centred on ``fill``.

    ``upscale=False`` leaves images smaller than ``size`` at their own scale (only padded).
    ``stride``: pad only up to the next multiples of it (YOLOv5's rectangular inference), so that
    a 250 x 250 image runs at 256 x 256 rather than 640 x 640.
    """
    height, width = image.shape[:2]
    scale = size / max(height, width)
    if not upscale:
        scale = min(scale, 1.0)
    resized, placement = resize(image, scale)
    new_height, new_width = resized.shape[:2]
    canvas_height, canvas_width = (
        (size, size) if stride is None else (_round_up(new_height, stride), _round_up(new_width, stride))
    )
    pad_x, pad_y = (canvas_width - new_width) // 2, (canvas_height - new_height) // 2
    canvas = np.full((canvas_height, canvas_width, image.shape[2]), fill, dtype=image.dtype)
    canvas[pad_y : pad_y + new_height, pad_x : pad_x + new_width] = resized
    return canvas, Placement(placement.scale_x, placement.scale_y, pad_x, pad_y)


def _round_up(length: int, multiple: int) -> int:
    return -(-length // multiple) * multiple


def pad_small(image: np.ndarray, size: int, value: int = 114) -> np.ndarray:
    """An image smaller than ``size`` x ``size`` placed at the top-left of a grey canvas of that
    size, unscaled, so that coordinates on the canvas are coordinates on the image; larger
    images are returned as they are (the letterbox then shrinks them)."""
    height, width = image.shape[:2]
    if height >= size and width >= size:
        return image
    canvas = np.full((max(height, size), max(width, size), 3), value, dtype=image.dtype)
    canvas[:height, :width] = image
    return canvas


def clip_faces(faces: list[Face], image_shape: tuple[int, ...]) -> list[Face]:
    """Faces found on a padded canvas, with boxes and points clipped back to the image."""
    limits = np.array(image_shape[1::-1], dtype=np.float32)
    return [
        replace(
            face,
            box=np.clip(face.box.reshape(2, 2), 0, limits).reshape(4),
            landmarks=None if face.landmarks is None else np.clip(face.landmarks, 0, limits),
        )
        for face in faces
    ]


def shrink_to(image: np.ndarray, max_side: int) -> tuple[np.ndarray, Placement]:
    """``image`` shrunk so that its longer side is at most ``max_side`` (unchanged if it is)."""
    scale = min(1.0, max_side / max(image.shape[:2]))
    return resize(image, scale)


def faces_to_image(faces: list[Face], placement: Placement) -> list[Face]:
    """Faces found on a resized image, in the original image's pixels: box, score, landmarks
    (a method's extras, such as a face mesh, are not carried over)."""
    if placement == Placement(1.0, 1.0):
        return faces
    return [
        Face(
            box=placement.to_image(face.box.reshape(2, 2)).reshape(4),
            score=face.score,
            landmarks=None if face.landmarks is None else placement.to_image(face.landmarks),
            landmark_names=face.landmark_names,
        )
        for face in faces
    ]
