"""YuNet through OpenCV on real LFW images; also proves cv2 imports after a clean install."""

from __future__ import annotations

import cv2
import numpy as np

from bench.detectors import create_detector, select_face

from .landmark_checks import assert_plausible_face


def test_cv2_has_the_face_detector() -> None:
    assert hasattr(cv2, "FaceDetectorYN"), cv2.__version__


def test_finds_one_plausible_face_per_lfw_image(lfw_images: list[np.ndarray]) -> None:
    detector = create_detector("yunet")
    for image, faces in zip(lfw_images, detector.detect(lfw_images), strict=True):
        assert faces, "no face found"
        assert_plausible_face(select_face(faces, image.shape), image.shape)


def test_image_without_a_face(lfw_images: list[np.ndarray]) -> None:
    grey = np.full((250, 250, 3), 128, dtype=np.uint8)
    assert create_detector("yunet").detect([grey]) == [[]]


def test_mixed_sizes_in_one_batch(lfw_images: list[np.ndarray]) -> None:
    bigger = cv2.resize(lfw_images[0], (400, 300))
    faces = create_detector("yunet").detect([lfw_images[1], bigger, lfw_images[2]])
    assert all(faces)
    assert_plausible_face(select_face(faces[1], bigger.shape), bigger.shape)
