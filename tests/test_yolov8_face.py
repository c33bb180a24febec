"""YOLOv8-face lite-t through Ultralytics and through the raw-head ONNX Runtime decode, on real
LFW images (CPU only): the keypoints following the image, the two backends agreeing, the
letterbox, no network and no output noise. What every detector promises (plausible faces in the
documented order, batching, no face on a blank image, ``describe``) is checked for both
backends in ``test_detector_contract.py``."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from omegaconf.errors import ValidationError

from bench.backends import ProviderError
from bench.detectors import Detector, Face, create_detector, select_face
from bench.detectors.yolov8_face.onnx_backend import OnnxYoloV8Face, letterbox
from bench.detectors.yolov8_face.ultralytics_backend import UltralyticsYoloV8Face
from bench.runtime import CPU_PROVIDER, CUDA_PROVIDER, Runtime

from .conftest import compose_config
from .landmark_checks import (
    assert_central_face_chosen,
    assert_plausible_face,
    assert_same_faces,
    template_error,
)

BACKENDS = ("ultralytics", "onnxruntime")
RUNTIME = Runtime.local("cpu", threads=1)


@pytest.fixture(scope="module")
def detectors() -> dict[str, Detector]:
    return {backend: create_detector("yolov8_face", RUNTIME, backend=backend) for backend in BACKENDS}


@pytest.fixture(scope="module")
def lfw_faces(detectors: dict[str, Detector], lfw_images: list[np.ndarray]) -> dict[str, list[list[Face]]]:
    return {backend: detector.detect(lfw_images) for backend, detector in detectors.items()}


def test_registry_builds_the_backend_asked_for(detectors: dict[str, Detector]) -> None:
    assert isinstance(detectors["ultralytics"], UltralyticsYoloV8Face)
    assert isinstance(detectors["onnxruntime"], OnnxYoloV8Face)
    assert all(detector.name == "yolov8_face" for detector in detectors.values())
    with pytest.raises(ValidationError, match=r"Invalid value 'tensorrt', expected one of"):
        create_detector("yolov8_face", RUNTIME, backend="tensorrt")


def test_config_builds_the_default_backend() -> None:
    detector = compose_config(["detector=yolov8_face"]).detector
    assert detector.name == "yolov8_face" and detector.options.backend == "onnxruntime"
    made = create_detector(detector.name, RUNTIME, detector.options)
    assert isinstance(made, OnnxYoloV8Face)


@pytest.mark.parametrize("backend", BACKENDS)
def test_alignment_lands_near_the_template(
    lfw_faces: dict[str, list[list[Face]]], lfw_images: list[np.ndarray], backend: str
) -> None:
    for image, faces in zip(lfw_images, lfw_faces[backend], strict=True):
        face = select_face(faces, image.shape)
        assert face is not None and face.landmarks is not None
        error = template_error(face)
        # Pose moves the nose a few pixels off the template; a swapped pair would be ~30 px off.
        assert error.mean() < 5.0 and error.max() < 10.0, error


def test_mirrored_image_swaps_the_sides(
    detectors: dict[str, Detector], lfw_faces: dict[str, list[list[Face]]], lfw_images: list[np.ndarray]
) -> None:
    """The order follows the image: on a mirrored image the point called ``left_eye`` is the
    mirror of the original's ``right_eye`` (the keypoints are the model's, not a fixed pattern)."""
    mirrored = [np.ascontiguousarray(image[:, ::-1]) for image in lfw_images]
    swap = [1, 0, 2, 4, 3]
    for image, original, flipped in zip(
        lfw_images, lfw_faces["onnxruntime"], detectors["onnxruntime"].detect(mirrored), strict=True
    ):
        face, mirror = select_face(original, image.shape), select_face(flipped, image.shape)
        assert face is not None and mirror is not None
        points = mirror.landmarks[swap].copy()
        points[:, 0] = image.shape[1] - points[:, 0]
        assert np.abs(points - face.landmarks).max() < 6.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_multi_face_image(
    detectors: dict[str, Detector],
    multi_face_image: tuple[np.ndarray, tuple[float, float, float, float]],
    backend: str,
) -> None:
    image, extent = multi_face_image
    faces = detectors[backend].detect([image])[0]
    assert len(faces) == 5
    assert_central_face_chosen(faces, image.shape, extent)
    assert_plausible_face(select_face(faces, image.shape), image.shape)


@pytest.mark.parametrize("backend", BACKENDS)
def test_letterbox_sizes_give_plausible_faces(
    detectors: dict[str, Detector], lfw_images: list[np.ndarray], backend: str
) -> None:
    """A non-square image smaller than the input (padded, not enlarged) and one larger than it
    (shrunk into it): the face is found where it is, its box clipped to the image."""
    wide = cv2.resize(lfw_images[1], (400, 300))
    large = cv2.resize(lfw_images[2], (900, 1000))
    for image, found in zip((wide, large), detectors[backend].detect([wide, large]), strict=True):
        assert_plausible_face(select_face(found, image.shape), image.shape)
        assert np.all(found[0].box[2:] <= image.shape[1::-1])


def test_backends_agree(
    detectors: dict[str, Detector],
    lfw_images: list[np.ndarray],
    multi_face_image: tuple[np.ndarray, tuple[float, float, float, float]],
) -> None:
    """Same network, same letterbox (the export's 640 x 640 square) and NMS: the faces match to
    float rounding. Prints the speed of each (run pytest with ``-s`` to see it)."""
    square = create_detector("yolov8_face", RUNTIME, backend="onnxruntime", pad_to="square")
    for ours, theirs in zip(
        square.detect(lfw_images), detectors["ultralytics"].detect(lfw_images), strict=True
    ):
        assert_same_faces(ours, theirs, tol=0.01)
    image = multi_face_image[0]
    assert_same_faces(square.detect([image])[0], detectors["ultralytics"].detect([image])[0], 0.01)

    batch = lfw_images * 2
    for name, detector in (*detectors.items(), ("onnxruntime square", square)):
        start = time.perf_counter()
        detector.detect(batch)
        print(f"yolov8_face {name}: {(time.perf_counter() - start) * 1e3 / len(batch):.1f} ms/image")


def test_padding_to_the_stride_finds_the_same_faces(
    lfw_faces: dict[str, list[list[Face]]], lfw_images: list[np.ndarray]
) -> None:
    """The default (256 x 256 for LFW, centred as Ultralytics' rectangular inference) against the
    export's 640 x 640 square: the same faces, the keypoints within a few pixels (lite-t's
    keypoints move with the input's offset to the cell grid: on 64 LFW images median 2.1 px,
    largest 5.4 px)."""
    for image, ours, reference in zip(
        lfw_images, lfw_faces["onnxruntime"], lfw_faces["ultralytics"], strict=True
    ):
        face, expected = select_face(ours, image.shape), select_face(reference, image.shape)
        assert face is not None and expected is not None
        assert np.abs(face.landmarks - expected.landmarks).max() < 6.0
        assert abs(face.score - expected.score) < 0.1


def test_letterbox_matches_ultralytics(lfw_images: list[np.ndarray]) -> None:
    from ultralytics.data.augment import LetterBox

    for image in (
        lfw_images[0],
        cv2.resize(lfw_images[1], (333, 251)),
        cv2.resize(lfw_images[2], (901, 700)),
    ):
        canvas, _ = letterbox(image, 640)
        np.testing.assert_array_equal(canvas, LetterBox((640, 640), auto=False)(image=image))
        canvas, _ = letterbox(image, 640, stride=32, scaleup=False)
        expected = LetterBox((640, 640), auto=True, scaleup=False, stride=32)(image=image)
        np.testing.assert_array_equal(canvas, expected)


def test_nothing_touches_the_network_or_prints(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str], lfw_images: list[np.ndarray]
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access: {args}")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    capfd.readouterr()
    for backend in BACKENDS:
        detector = create_detector("yolov8_face", RUNTIME, backend=backend)
        detector.detect(lfw_images[:2])
        detector.detect(lfw_images[2:4])
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_describe_records_what_ran(detectors: dict[str, Detector]) -> None:
    import ultralytics

    info = detectors["ultralytics"].describe()
    assert info["detector_backend"] == f"ultralytics {ultralytics.__version__}"
    assert info["detector_runtime"].startswith("onnxruntime")
    assert info["detector_provider"] == "CPUExecutionProvider"
    assert info["detector_input"].startswith("letterbox 640, 1 image per forward")
    assert info["detector_weights"].endswith("yolov8-lite-t-ultralytics.onnx")
    info = detectors["onnxruntime"].describe()
    assert info["detector_input"].startswith("letterbox 640 (to a multiple of 32)")
    assert info["detector_provider"] == "CPUExecutionProvider"
    assert info["detector_weights"].endswith("yolov8-lite-t.onnx")


def test_input_size_is_free_on_onnxruntime_and_fixed_by_the_ultralytics_export(
    lfw_images: list[np.ndarray],
) -> None:
    smaller = create_detector("yolov8_face", RUNTIME, backend="onnxruntime", input_size=128)
    large = cv2.resize(lfw_images[0], (500, 500))
    assert_plausible_face(select_face(smaller.detect([large])[0], large.shape), large.shape)
    with pytest.raises(ValueError, match="input_size=320 cannot run on it"):
        create_detector("yolov8_face", RUNTIME, backend="ultralytics", input_size=320)
    with pytest.raises(ValueError, match="leave pad_to unset, or use backend=onnxruntime"):
        create_detector("yolov8_face", RUNTIME, backend="ultralytics", pad_to="square")


def test_a_pt_checkpoint_goes_through_the_same_call(tmp_path: Path) -> None:
    """A YOLOv8-face ``.pt`` loads by the same ``YOLO(path, task="pose")``. The real YOLOv8n-face
    checkpoint is not available offline, so this builds a randomly initialised 5-keypoint
    YOLOv8n-pose checkpoint: it checks the plumbing, not accuracy."""
    from ultralytics.nn.tasks import PoseModel

    model = PoseModel("yolov8n-pose.yaml", nc=1, data_kpt_shape=(5, 3), verbose=False)
    path = tmp_path / "random-face-pose.pt"
    torch.save({"model": model, "train_args": {"task": "pose", "imgsz": 640}}, path)
    detector = create_detector(
        "yolov8_face", RUNTIME, backend="ultralytics", path=str(path), score_threshold=0.01
    )
    info = detector.describe()
    assert info["detector_runtime"].startswith("torch") and "detector_provider" not in info
    noise = np.random.default_rng(0).integers(0, 256, size=(250, 250, 3), dtype=np.uint8)
    faces = detector.detect([noise])[0]
    assert faces and all(face.landmarks is not None and face.landmarks.shape == (5, 2) for face in faces)

    torch.save({"model": model, "train_args": {"task": "detect"}}, path)
    with pytest.raises(ValueError, match="pose model"):
        create_detector("yolov8_face", RUNTIME, backend="ultralytics", path=str(path))
    with pytest.raises(ValueError, match="runs on backend=ultralytics"):
        create_detector("yolov8_face", RUNTIME, path=str(path))


def test_ultralytics_running_another_provider_is_an_error() -> None:
    """Ultralytics picks the ONNX Runtime provider from the device itself; when that is not the
    runtime's first provider (here CUDA asked for, on the CPU device) the run must not go on."""
    runtime = Runtime(torch.device("cpu"), (CUDA_PROVIDER, CPU_PROVIDER), detect_threads=1, embed_threads=1)
    with pytest.raises(
        ProviderError, match=f"asked for {CUDA_PROVIDER} on cpu, but Ultralytics runs it on {CPU_PROVIDER}"
    ):
        create_detector("yolov8_face", runtime, backend="ultralytics")
