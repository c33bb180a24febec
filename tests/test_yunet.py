"""YuNet through OpenCV and through ONNX Runtime on real LFW images: plausible faces, the two
backends giving the same faces, and cv2 still importing and running YuNet after a clean install."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from bench.detectors import Detector, create_detector, select_face
from bench.detectors.yunet import OnnxYuNet, OpenCVYuNet

from .conftest import compose_config, read_rgb
from .landmark_checks import assert_plausible_face, assert_same_faces

BACKENDS = ("opencv", "onnxruntime")
CPU = ["CPUExecutionProvider"]
#: Backend disagreement allowed: measured at most 5.4e-5 px (boxes), 1.7e-5 px (landmarks) and
#: 7.2e-7 (scores) on 360 LFW images, about 10x that here for other CPUs' kernels.
PIXEL_TOL, SCORE_TOL = 5e-4, 1e-5


@pytest.fixture(scope="module")
def detectors() -> dict[str, Detector]:
    return {backend: create_detector("yunet", backend=backend, onnx_providers=CPU) for backend in BACKENDS}


@pytest.fixture(scope="module")
def many_lfw_images(lfw_root: Path) -> list[np.ndarray]:
    """50 LFW images spread over the whole set (all 250x250)."""
    files = sorted(lfw_root.glob("*/*.jpg"))
    return [read_rgb(path) for path in files[:: len(files) // 50][:50]]


def test_cv2_has_the_face_detector() -> None:
    assert hasattr(cv2, "FaceDetectorYN"), cv2.__version__


def test_registry_builds_the_backend_asked_for(detectors: dict[str, Detector]) -> None:
    assert isinstance(detectors["opencv"], OpenCVYuNet)
    assert isinstance(detectors["onnxruntime"], OnnxYuNet)
    assert all(detector.name == "yunet" for detector in detectors.values())
    with pytest.raises(
        ValueError, match=r"unknown yunet backend 'tensorrt'; choose from \['onnxruntime', 'opencv'\]"
    ):
        create_detector("yunet", backend="tensorrt")


def test_config_builds_onnxruntime_by_default() -> None:
    detector = compose_config(["detector=yunet"]).detector
    assert detector.options.backend == "onnxruntime"
    made = create_detector(detector.name, onnx_providers=CPU, num_threads=1, **detector.options)
    assert isinstance(made, OnnxYuNet)
    assert made.session.session.get_session_options().intra_op_num_threads == 1


def test_describe_says_what_ran(detectors: dict[str, Detector]) -> None:
    onnx, opencv = detectors["onnxruntime"].describe(), detectors["opencv"].describe()
    assert onnx["detector_backend"].startswith("onnxruntime ") and onnx["detector_provider"] == CPU[0]
    assert opencv["detector_backend"] == f"opencv {cv2.__version__}" and "CPU" in opencv["detector_provider"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_finds_one_plausible_face_per_lfw_image(
    detectors: dict[str, Detector], lfw_images: list[np.ndarray], backend: str
) -> None:
    for image, faces in zip(lfw_images, detectors[backend].detect(lfw_images), strict=True):
        assert faces, "no face found"
        assert_plausible_face(select_face(faces, image.shape), image.shape)


@pytest.mark.parametrize("backend", BACKENDS)
def test_image_without_a_face(detectors: dict[str, Detector], backend: str) -> None:
    grey = np.full((250, 250, 3), 128, dtype=np.uint8)
    assert detectors[backend].detect([grey]) == [[]]
    assert detectors[backend].detect([]) == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_mixed_sizes_in_one_batch(
    detectors: dict[str, Detector], lfw_images: list[np.ndarray], backend: str
) -> None:
    bigger = cv2.resize(lfw_images[0], (400, 300))
    faces = detectors[backend].detect([lfw_images[1], bigger, lfw_images[2]])
    assert all(faces)
    assert_plausible_face(select_face(faces[1], bigger.shape), bigger.shape)


def test_backends_agree_on_lfw(detectors: dict[str, Detector], many_lfw_images: list[np.ndarray]) -> None:
    found = {backend: detectors[backend].detect(many_lfw_images) for backend in BACKENDS}
    for got, expected in zip(found["onnxruntime"], found["opencv"], strict=True):
        assert got, "no face found"
        assert_same_faces(got, expected, tol=PIXEL_TOL, score_tol=SCORE_TOL)


def test_backends_agree_on_several_faces_and_odd_sizes(
    detectors: dict[str, Detector],
    multi_face_image: tuple[np.ndarray, tuple[float, float, float, float]],
    lfw_images: list[np.ndarray],
) -> None:
    """Five faces on 500x500, the same canvas cut to 301x257 (faces cut at the edges) and an
    LFW face stretched to 301x257: sizes that are not multiples of 32 are padded, not resized."""
    canvas = multi_face_image[0]
    images = [canvas, np.ascontiguousarray(canvas[:257, :301]), cv2.resize(lfw_images[3], (301, 257))]
    found = {backend: detectors[backend].detect(images) for backend in BACKENDS}
    assert len(found["opencv"][0]) == 5
    for got, expected in zip(found["onnxruntime"], found["opencv"], strict=True):
        assert got, "no face found"
        assert_same_faces(got, expected, tol=PIXEL_TOL, score_tol=SCORE_TOL)
