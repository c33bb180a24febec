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


def _eye_frame(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """From five points (``FIVE_POINTS`` order): the eyes' midpoint, the unit vector along the
    eye line, the unit normal pointing down the face, and the inter-ocular distance."""
    left, right = landmarks[0].astype(np.float64), landmarks[1].astype(np.float64)
    along = right - left
    iod = float(np.linalg.norm(along))
    along = along / iod
    down = np.array([-along[1], along[0]])
    return (left + right) / 2, along, down, iod


def _blacken(image: np.ndarray, corners: np.ndarray) -> Transformed:
    blackened = image.copy()
    cv2.fillConvexPoly(blackened, np.round(corners).astype(np.int32), (0, 0, 0), lineType=cv2.LINE_8)
    return blackened, np.eye(2, 3)


def to_inter_ocular(image: np.ndarray, landmarks: np.ndarray, pixels: float) -> Transformed:
    """The image shrunk so that the eyes are ``pixels`` apart (never enlarged)."""
    _, _, _, iod = _eye_frame(landmarks)
    return resize(image, min(1.0, pixels / iod))


def eye_band(image: np.ndarray, landmarks: np.ndarray, height: float) -> Transformed:
    """A black band along the eye line, half an inter-ocular distance beyond each eye and
    ``height`` inter-ocular distances high, centred on the eyes."""
    middle, along, down, iod = _eye_frame(landmarks)
    half_length, half_height = iod, height * iod / 2
    corners = np.array(
        [
            middle - half_length * along - half_height * down,
            middle + half_length * along - half_height * down,
            middle + half_length * along + half_height * down,
            middle - half_length * along + half_height * down,
        ]
    )
    return _blacken(image, corners)


def lower_face(image: np.ndarray, landmarks: np.ndarray, share: float) -> Transformed:
    """The face black below a line parallel to the eyes, ``share`` of the way up from the mouth
    to the eyes (1: from the eye line), 1.25 inter-ocular distances either side of the face's
    axis and down past the chin."""
    middle, along, down, iod = _eye_frame(landmarks)
    mouth = landmarks[3:5].astype(np.float64).mean(axis=0)
    depth = float(np.dot(mouth - middle, down))
    top = middle + (1 - share) * depth * down
    bottom = top + (share * depth + 1.5 * iod) * down
    half_width = 1.25 * iod
    corners = np.array(
        [
            top - half_width * along,
            top + half_width * along,
            bottom + half_width * along,
            bottom - half_width * along,
        ]
    )
    return _blacken(image, corners)


def paste_face(
    image: np.ndarray,
    landmarks: np.ndarray,
    donor: np.ndarray,
    donor_landmarks: np.ndarray,
    size: float,
    side: int,
) -> Transformed:
    """``donor``'s face pasted beside this one (``side`` -1: on the image's left, 1: its right),
    level with it, scaled so that its eyes are ``size`` times this face's inter-ocular distance
    apart, through a feathered elliptical mask; where the donor image ends, nothing is pasted."""
    middle, along, _, iod = _eye_frame(landmarks)
    donor_middle, _, _, donor_iod = _eye_frame(donor_landmarks)
    centre = (middle + landmarks[3:5].mean(axis=0)) / 2
    donor_centre = (donor_middle + donor_landmarks[3:5].mean(axis=0)) / 2
    scale = size * iod / donor_iod
    target = centre + side * 1.2 * (1 + size) * iod * along
    matrix = np.array(
        [[scale, 0.0, target[0] - scale * donor_centre[0]], [0.0, scale, target[1] - scale * donor_centre[1]]]
    )
    height, width = image.shape[:2]
    warped = cv2.warpAffine(
        donor, matrix, (width, height), flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    )
    covered = cv2.warpAffine(np.full(donor.shape[:2], 255, np.uint8), matrix, (width, height))
    mask = np.zeros((height, width), np.uint8)
    axes = (round(1.1 * size * iod), round(1.5 * size * iod))
    cv2.ellipse(mask, (round(target[0]), round(target[1])), axes, 0, 0, 360, 255, thickness=-1)
    alpha = cv2.GaussianBlur(np.minimum(mask, covered).astype(np.float32) / 255, (0, 0), 0.12 * size * iod)
    alpha = alpha[..., None]
    pasted = image.astype(np.float32) * (1 - alpha) + warped.astype(np.float32) * alpha
    return np.clip(np.round(pasted), 0, 255).astype(np.uint8), np.eye(2, 3)
