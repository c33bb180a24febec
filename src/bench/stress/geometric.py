"""Geometric degradations, each returning the image and the affine map it applied.

The map is 2x3, from the clean image's coordinates to the degraded image's, in OpenCV's
convention (pixel centres at integers) that the aligner's warp uses, so that landmarks found on
the clean image can be carried over (``tests/test_stress.py`` checks it on real detections).
Uncovered canvas is black.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

Transformed = tuple[np.ndarray, np.ndarray]


def _scale_matrix(scale_x: float, scale_y: float) -> np.ndarray:
    # Pixel edges scale, so centres move by half a pixel: x' = (x + 0.5) * s - 0.5.
    return np.array([[scale_x, 0.0, 0.5 * scale_x - 0.5], [0.0, scale_y, 0.5 * scale_y - 0.5]])


def resize(image: np.ndarray, scale: float) -> Transformed:
    """The whole image at ``scale`` (area resampling when shrinking, as a camera's sensor would)."""
    height, width = image.shape[:2]
    new_width, new_height = max(1, round(width * scale)), max(1, round(height * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(image, (new_width, new_height), interpolation=interpolation)
    return resized, _scale_matrix(new_width / width, new_height / height)


def rotate(image: np.ndarray, degrees: float) -> Transformed:
    """Rotated counter-clockwise by ``degrees`` about its centre, on a canvas that holds all of it."""
    height, width = image.shape[:2]
    radians = math.radians(degrees)
    cos, sin = abs(math.cos(radians)), abs(math.sin(radians))
    # Less a hair so that 90 degrees (cos ~ 6e-17) does not round a side up by a pixel.
    new_width = math.ceil(width * cos + height * sin - 1e-6)
    new_height = math.ceil(width * sin + height * cos - 1e-6)
    matrix = cv2.getRotationMatrix2D(((width - 1) / 2, (height - 1) / 2), degrees, 1.0)
    matrix[:, 2] += ((new_width - width) / 2, (new_height - height) / 2)
    rotated = cv2.warpAffine(image, matrix, (new_width, new_height), flags=cv2.INTER_LINEAR, borderValue=0)
    return rotated, matrix


def small_off_centre(image: np.ndarray, scale: float, rng: np.random.Generator) -> Transformed:
    """Shrunk to ``scale`` and placed near a random corner of a black canvas twice the image's size."""
    height, width = image.shape[:2]
    small, matrix = resize(image, scale)
    canvas = np.zeros((2 * height, 2 * width, 3), dtype=image.dtype)
    offsets = []
    for canvas_side, side in ((2 * width, small.shape[1]), (2 * height, small.shape[0])):
        room = canvas_side - side
        jitter = int(rng.integers(0, room // 4 + 1))
        offsets.append(jitter if rng.integers(0, 2) == 0 else room - jitter)
    left, top = offsets
    canvas[top : top + small.shape[0], left : left + small.shape[1]] = small
    matrix[:, 2] += (left, top)
    return canvas, matrix


def occlude(image: np.ndarray, fraction: float, rng: np.random.Generator) -> Transformed:
    """A black square, its side ``fraction`` of the shorter side, anywhere inside the image."""
    height, width = image.shape[:2]
    side = min(height, width, max(1, round(fraction * min(height, width))))
    top = int(rng.integers(0, height - side + 1))
    left = int(rng.integers(0, width - side + 1))
    occluded = image.copy()
    occluded[top : top + side, left : left + side] = 0
    return occluded, np.eye(2, 3)
