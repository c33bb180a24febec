"""YOLOv5-Face n-0.5 on ONNX Runtime: real weights on real LFW faces (CPU). What every detector
promises (plausible faces in the documented order, batching, no face on a blank image,
``describe``) is in ``test_detector_contract.py``."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from bench.detectors import Face, create_detector, select_face
from bench.detectors.letterbox import letterbox
from bench.detectors.yolov5_face.detector import ANCHORS, STRIDES, YoloV5FaceDetector, decode_heads
from bench.runtime import Runtime

from .landmark_checks import assert_central_face_chosen, assert_plausible_face, template_error

RUNTIME = Runtime.local("cpu", threads=1)


@pytest.fixture(scope="module")
def detector() -> YoloV5FaceDetector:
    made = create_detector("yolov5_face", RUNTIME)
    assert isinstance(made, YoloV5FaceDetector)
    return made


@pytest.fixture(scope="module")
def lfw_faces(detector: YoloV5FaceDetector, lfw_images: list[np.ndarray]) -> list[list[Face]]:
    return detector.detect(lfw_images)


def test_alignment_lands_near_the_template(lfw_faces: list[list[Face]], lfw_images: list[np.ndarray]) -> None:
    for image, faces in zip(lfw_images, lfw_faces, strict=True):
        face = select_face(faces, image.shape)
        assert face is not None and face.landmarks is not None
        error = template_error(face)
        # Pose moves the nose a few pixels off the template; a swapped pair would be ~30 px off.
        assert error.mean() < 5.0 and error.max() < 10.0, error


def test_multi_face_image(
    detector: YoloV5FaceDetector, multi_face_image: tuple[np.ndarray, tuple[float, float, float, float]]
) -> None:
    image, extent = multi_face_image
    faces = detector.detect([image])[0]
    assert len(faces) == 5
    assert_central_face_chosen(faces, image.shape, extent)


def test_coordinates_map_back_through_the_letterbox(
    detector: YoloV5FaceDetector, lfw_images: list[np.ndarray], lfw_faces: list[list[Face]]
) -> None:
    """A stretched, non-square copy: the face is found where the stretch puts it."""
    wide = cv2.resize(lfw_images[0], (400, 300), interpolation=cv2.INTER_LINEAR)
    face = select_face(detector.detect([wide])[0], wide.shape)
    assert_plausible_face(face, wide.shape)
    original = select_face(lfw_faces[0], lfw_images[0].shape)
    assert face is not None and original is not None
    scale = np.array([400 / 250, 300 / 250])
    assert np.abs(face.landmarks - original.landmarks * scale).max() < 6.0


def test_decoding_formulas() -> None:
    """One hot cell per head: box and landmarks follow the reference ``Detect`` decoding."""
    heads = [np.full((1, 3, 640 // s, 640 // s, 16), -20.0, dtype=np.float32) for s in STRIDES]
    raw = np.zeros(16, dtype=np.float32)
    raw[4] = raw[15] = 10.0  # objectness and class ~ 1
    raw[5:15] = np.linspace(-1.0, 1.0, 10)
    heads[1][0, 2, 5, 7] = raw  # anchor 2 of stride 16, row 5, column 7
    boxes, scores, landmarks = decode_heads(heads, 0.5)
    assert len(boxes) == 1 and scores[0] == pytest.approx(1.0, abs=1e-4)
    anchor, cell = ANCHORS[1, 2], np.array([7.0, 5.0])
    centre, size = (0.5 + cell) * 16, 4 * anchor * 0.25  # sigmoid(0) = 0.5
    np.testing.assert_allclose(boxes[0], [*(centre - size / 2), *(centre + size / 2)], rtol=1e-5)
    np.testing.assert_allclose(landmarks[0], raw[5:15].reshape(5, 2) * anchor + cell * 16, rtol=1e-5)


def test_letterbox_round_trip() -> None:
    image = np.zeros((100, 300, 3), dtype=np.uint8)
    canvas, placement = letterbox(image, 640)
    assert canvas.shape == (640, 640, 3)
    points = np.array([[0.0, 0.0], [300.0, 100.0], [150.0, 50.0]])
    on_canvas = points * [placement.scale_x, placement.scale_y] + [placement.pad_x, placement.pad_y]
    np.testing.assert_allclose(placement.to_image(on_canvas), points, atol=1e-4)
    assert np.allclose(on_canvas[1], [640, 320 + 640 * 100 / 300 / 2], atol=1)
    small, kept = letterbox(np.zeros((250, 250, 3), np.uint8), 640, upscale=False)
    assert (kept.scale_x, kept.pad_x, kept.pad_y) == (1.0, 195, 195) and small.shape == (640, 640, 3)
    # Padded to the stride only: the same offset modulo 32, so the same cells see the face.
    small, kept = letterbox(np.zeros((250, 250, 3), np.uint8), 640, upscale=False, stride=32)
    assert (kept.scale_x, kept.pad_x, kept.pad_y) == (1.0, 3, 3) and small.shape == (256, 256, 3)
    wide, kept = letterbox(np.zeros((500, 1000, 3), np.uint8), 640, upscale=False, stride=32)
    assert wide.shape == (320, 640, 3) and (kept.pad_x, kept.pad_y) == (0, 0)


def test_padding_to_the_stride_finds_the_same_faces(
    detector: YoloV5FaceDetector, lfw_faces: list[list[Face]], lfw_images: list[np.ndarray]
) -> None:
    """The default (256 x 256 for LFW) against the reference's 640 x 640 square: the same faces,
    within about a pixel (measured on 64 LFW images: median 0.11 px, largest 1.5 px)."""
    square = create_detector("yolov5_face", RUNTIME, pad_to="square")
    for image, ours, reference in zip(lfw_images, lfw_faces, square.detect(lfw_images), strict=True):
        face, expected = select_face(ours, image.shape), select_face(reference, image.shape)
        assert face is not None and expected is not None
        assert np.abs(face.landmarks - expected.landmarks).max() < 2.0
        assert abs(face.score - expected.score) < 0.05


def test_describe(detector: YoloV5FaceDetector) -> None:
    info = detector.describe()
    assert info["detector_provider"] == "CPUExecutionProvider"
    assert info["detector_weights"].endswith("yolov5n-0.5.onnx")
    assert info["detector_input"].startswith("letterbox 640 (padded, to a multiple of 32)")
