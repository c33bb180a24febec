"""RetinaFace MobileNet-0.25 on ONNX Runtime: real weights on real LFW faces (CPU). What every
detector promises (plausible faces in the documented order, batching, no face on a blank
image, ``describe``) is in ``test_detector_contract.py``."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from bench.config import ConfigValueError
from bench.detectors import Face, create_detector, select_face
from bench.detectors.retinaface.detector import RetinaFaceDetector, decode, prior_boxes
from bench.detectors.retinaface.options import RetinaFaceOptions
from bench.runtime import Runtime

from .landmark_checks import assert_central_face_chosen, assert_plausible_face, template_error

RUNTIME = Runtime.local("cpu", threads=1)


@pytest.fixture(scope="module")
def detector() -> RetinaFaceDetector:
    made = create_detector("retinaface", RUNTIME)
    assert isinstance(made, RetinaFaceDetector)
    return made


@pytest.fixture(scope="module")
def lfw_faces(detector: RetinaFaceDetector, lfw_images: list[np.ndarray]) -> list[list[Face]]:
    return detector.detect(lfw_images)


def test_alignment_lands_near_the_template(lfw_faces: list[list[Face]], lfw_images: list[np.ndarray]) -> None:
    for image, faces in zip(lfw_images, lfw_faces, strict=True):
        face = select_face(faces, image.shape)
        assert face is not None and face.landmarks is not None
        error = template_error(face)
        # Pose moves the nose a few pixels off the template; a swapped pair would be ~30 px off.
        assert error.mean() < 5.0 and error.max() < 10.0, error


def test_multi_face_image(
    detector: RetinaFaceDetector, multi_face_image: tuple[np.ndarray, tuple[float, float, float, float]]
) -> None:
    image, extent = multi_face_image
    faces = detector.detect([image])[0]
    assert len(faces) == 5
    assert_central_face_chosen(faces, image.shape, extent)


def test_odd_sizes_follow_the_stretch(
    detector: RetinaFaceDetector, lfw_images: list[np.ndarray], lfw_faces: list[list[Face]]
) -> None:
    """333x241 (no side a multiple of any stride): the priors follow the size, the landmarks
    follow the stretch."""
    odd = cv2.resize(lfw_images[1], (333, 241), interpolation=cv2.INTER_LINEAR)
    face = select_face(detector.detect([odd])[0], odd.shape)
    assert_plausible_face(face, odd.shape)
    original = select_face(lfw_faces[1], lfw_images[1].shape)
    assert face is not None and original is not None
    assert np.abs(face.landmarks - original.landmarks * [333 / 250, 241 / 250]).max() < 6.0


def test_input_size_maps_back_to_the_original(
    lfw_images: list[np.ndarray], lfw_faces: list[list[Face]]
) -> None:
    """A 2x enlarged image shrunk back by ``input_size`` gives twice the native coordinates."""
    big = cv2.resize(lfw_images[3], (500, 500), interpolation=cv2.INTER_LINEAR)
    capped = create_detector("retinaface", RUNTIME, input_size=250)
    face = select_face(capped.detect([big])[0], big.shape)
    original = select_face(lfw_faces[3], lfw_images[3].shape)
    assert face is not None and original is not None
    assert np.abs(face.landmarks - 2 * original.landmarks).max() < 4.0
    assert np.abs(face.box - 2 * original.box).max() < 8.0


def test_priors_and_decoding() -> None:
    priors = prior_boxes(250, 250)
    assert len(priors) == 2 * (32 * 32 + 16 * 16 + 8 * 8)
    # First cell of stride 8 (its two sizes), then the next column.
    np.testing.assert_allclose(priors[:3], [[4, 4, 16, 16], [4, 4, 32, 32], [12, 4, 16, 16]])
    np.testing.assert_allclose(priors[-1], [240, 240, 512, 512])
    loc = np.array([[1.0, -1.0, 0.0, np.log(2) / 0.2]], dtype=np.float32)
    marks = np.tile([[10.0, 0.0]], (1, 5)).astype(np.float32)
    boxes, points = decode(loc, marks, np.array([[100, 100, 20, 20]], dtype=np.float32))
    np.testing.assert_allclose(boxes[0], [92, 78, 112, 118], rtol=1e-5)  # centre (102, 98), 20 x 40
    np.testing.assert_allclose(points[0], np.tile([[120.0, 100.0]], (5, 1)), rtol=1e-5)


def test_describe(detector: RetinaFaceDetector) -> None:
    info = detector.describe()
    assert info["detector_provider"] == "CPUExecutionProvider"
    assert info["detector_weights"].endswith("retinaface_mobilenet0.25.onnx")


def test_rejects_a_bad_input_size() -> None:
    with pytest.raises(
        ConfigValueError, match=r"detector\.options\.input_size must be >= 32 pixels or null, got 8"
    ):
        RetinaFaceOptions(input_size=8)
    with pytest.raises(ConfigValueError, match="input_size"):
        create_detector("retinaface", RUNTIME, input_size=8)
