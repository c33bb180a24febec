"""Very large images: detected on a shrunk copy, aligned from the full image."""

from __future__ import annotations

import cv2
import numpy as np

from bench.detectors import create_detector
from bench.detectors.letterbox import faces_to_image, shrink_to

from .landmark_checks import assert_plausible_face


def test_faces_found_on_a_shrunk_copy_map_back_to_the_full_image(lfw_images: list[np.ndarray]) -> None:
    # An LFW face enlarged to 4000x4000, as a photo from a modern camera would be.
    large = cv2.resize(lfw_images[0], (4000, 4000), interpolation=cv2.INTER_LINEAR)
    small, placement = shrink_to(large, 1024)
    assert max(small.shape[:2]) == 1024
    detector = create_detector("yunet")
    (found,) = detector.detect([small])[0][:1]
    (face,) = faces_to_image([found], placement)
    np.testing.assert_allclose(face.box, found.box * 4000 / 1024, rtol=1e-6)
    np.testing.assert_allclose(face.landmarks, found.landmarks * 4000 / 1024, rtol=1e-6)
    # Where the face is at LFW's 250 px, times 16, give or take the detector's own variation
    # between a 1024 px and a 250 px input (a few pixels at 250 px).
    (reference,) = detector.detect([lfw_images[0]])[0][:1]
    np.testing.assert_allclose(face.landmarks, reference.landmarks * 16, atol=8 * 16)
    assert_plausible_face(face, large.shape)


def test_small_images_are_left_alone(lfw_images: list[np.ndarray]) -> None:
    image, placement = shrink_to(lfw_images[0], 2048)
    assert image is lfw_images[0]
    faces = create_detector("yunet").detect([image])[0]
    assert faces_to_image(faces, placement) is faces
