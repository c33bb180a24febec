"""Resize an image into a fixed network input and map the network's coordinates back.

Coordinates are continuous pixel-edge coordinates (``0`` is the left edge of the first
pixel), in which a resize by ``s`` is exactly ``x * s``; the detectors' boxes and landmarks
live in the same convention, so going back is ``(x - pad) / s`` per axis.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


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
    image: np.ndarray, size: int, upscale: bool = True, fill: int = 114
) -> tuple[np.ndarray, Placement]:
    """``image`` fitted into a ``size`` x ``size`` square, aspect kept, centred on ``fill``.

    ``upscale=False`` leaves images smaller than ``size`` at their own scale (only padded).
    """
    height, width = image.shape[:2]
    scale = size / max(height, width)
    if not upscale:
        scale = min(scale, 1.0)
    resized, placement = resize(image, scale)
    new_height, new_width = resized.shape[:2]
    pad_x, pad_y = (size - new_width) // 2, (size - new_height) // 2
    canvas = np.full((size, size, image.shape[2]), fill, dtype=image.dtype)
    canvas[pad_y : pad_y + new_height, pad_x : pad_x + new_width] = resized
    return canvas, Placement(placement.scale_x, placement.scale_y, pad_x, pad_y)
