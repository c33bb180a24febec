"""YuNet through OpenCV and through ONNX Runtime on real LFW images: the two backends giving the
same faces, and cv2 still importing and running YuNet after a clean install. What every
detector promises (plausible faces, landmark order, batching, no face on a blank image,
``describe``) is checked for both backends in ``test_detector_contract.py``."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from omegaconf.errors import ValidationError

from bench.detectors import Detector, create_detector
from bench.detectors.yunet.onnx_backend import OnnxYuNet
from bench.detectors.yunet.opencv_backend import OpenCVYuNet
from bench.detectors.yunet.options import YuNetOptions
from bench.runtime import CPU_PROVIDER, CUDA_PROVIDER, Runtime

from .conftest import compose_config, read_rgb
from .landmark_checks import assert_same_faces

BACKENDS = ("opencv", "onnxruntime")
RUNTIME = Runtime.local("cpu", threads=1)
#: Backend disagreement allowed: measured at most 5.4e-5 px (boxes), 1.7e-5 px (landmarks) and
#: 7.2e-7 (scores) on 360 LFW images, about 10x that here for other CPUs' kernels.
PIXEL_TOL, SCORE_TOL = 5e-4, 1e-5


@pytest.fixture(scope="module")
def detectors() -> dict[str, Detector]:
    return {backend: create_detector("yunet", RUNTIME, backend=backend) for backend in BACKENDS}


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
        ValidationError, match=r"Invalid value 'tensorrt', expected one of \[onnxruntime, opencv\]"
    ):
        create_detector("yunet", RUNTIME, backend="tensorrt")


def test_an_options_object_picks_its_backend() -> None:
    assert isinstance(create_detector("yunet", RUNTIME, YuNetOptions(backend="opencv")), OpenCVYuNet)


def test_config_builds_onnxruntime_by_default() -> None:
    detector = compose_config(["detector=yunet"]).detector
    assert detector.options.backend == "onnxruntime"
    made = create_detector(detector.name, RUNTIME, detector.options)
    assert isinstance(made, OnnxYuNet)
    # The ONNX Runtime session takes the runtime's detection threads.
    assert made.session.session.get_session_options().intra_op_num_threads == RUNTIME.detect_threads == 1


def test_opencv_on_a_cuda_runtime_runs_on_the_cpu_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    """OpenCV DNN has no CUDA path here: on a run's CUDA runtime this backend runs on the CPU,
    logs so, and records ``cpu``. Nothing here touches CUDA."""
    cuda = Runtime(torch.device("cuda", 0), (CUDA_PROVIDER, CPU_PROVIDER), detect_threads=1, embed_threads=1)
    with caplog.at_level(logging.WARNING):
        detector = create_detector("yunet", cuda, backend="opencv")
    assert detector.describe()["detector_device"] == "cpu"
    assert "YuNet (opencv) runs on the CPU" in caplog.text and "cuda:0 is not used" in caplog.text


def test_describe_says_what_ran(detectors: dict[str, Detector]) -> None:
    onnx, opencv = detectors["onnxruntime"].describe(), detectors["opencv"].describe()
    assert (
        onnx["detector_backend"].startswith("onnxruntime ")
        and onnx["detector_provider"] == "CPUExecutionProvider"
    )
    assert opencv["detector_backend"] == f"opencv {cv2.__version__}" and "CPU" in opencv["detector_provider"]


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
