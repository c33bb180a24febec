"""MediaPipe BlazeFace (Tasks FaceDetector) and Face Mesh (LiteRT): real weights, real LFW faces, CPU.

What every detector promises (faces in the documented order, BlazeFace's four named points,
batching, no face on a blank image, non-RGB input refused, ``describe``) is checked for both in
``test_detector_contract.py``. Every detector built here is closed at teardown
(``Detector.close``): MediaPipe's own clean-up can deadlock in the garbage collector.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from ai_edge_litert.interpreter import Interpreter
from mediapipe.tasks.python.vision.face_landmarker import FaceLandmarksConnections
from omegaconf.errors import ValidationError

from bench.alignment import align_face, similarity_to_template, template_points
from bench.assets import resolve
from bench.detectors import FIVE_POINTS, Detector, Face, create_detector, select_face
from bench.detectors.mediapipe_common import blazeface_task_model
from bench.detectors.mediapipe_detection import WEIGHTS, BlazeFaceModel
from bench.detectors.mediapipe_detection.detector import LANDMARK_NAMES, MediaPipeFaceDetector
from bench.detectors.mediapipe_mesh.detector import (
    MESH_LEFT_EYE,
    MESH_POINTS,
    MESH_RIGHT_EYE,
    MediaPipeMeshDetector,
    MeshFace,
)
from bench.runtime import CPU_PROVIDER, CUDA_PROVIDER, Runtime

from .landmark_checks import (
    apply_affine,
    assert_central_face_chosen,
    assert_landmark_order,
    template_error,
)

MultiFace = tuple[np.ndarray, tuple[float, float, float, float]]
RUNTIME = Runtime.local("cpu", threads=1)


@pytest.fixture(scope="module")
def blazeface() -> Iterator[MediaPipeFaceDetector]:
    made = create_detector("mediapipe_detection", RUNTIME)
    assert isinstance(made, MediaPipeFaceDetector)
    yield made
    made.close()


@pytest.fixture(scope="module")
def mesh_detector() -> Iterator[MediaPipeMeshDetector]:
    made = create_detector("mediapipe_mesh", RUNTIME)
    assert isinstance(made, MediaPipeMeshDetector)
    yield made
    made.close()


@pytest.fixture()
def build() -> Iterator[Callable[..., Detector]]:
    """``create_detector`` for one test, on ``RUNTIME`` unless given; closed at teardown."""
    made: list[Detector] = []

    def build(name: str, runtime: Runtime = RUNTIME, **options: object) -> Detector:
        made.append(create_detector(name, runtime, **options))
        return made[-1]

    yield build
    for detector in made:
        detector.close()


@pytest.fixture(scope="module")
def blazeface_faces(blazeface: MediaPipeFaceDetector, lfw_images: list[np.ndarray]) -> list[Face]:
    return _selected(blazeface.detect(lfw_images), lfw_images)


@pytest.fixture(scope="module")
def mesh_faces(mesh_detector: MediaPipeMeshDetector, lfw_images: list[np.ndarray]) -> list[Face]:
    return _selected(mesh_detector.detect(lfw_images), lfw_images)


def _selected(found: list[list[Face]], images: list[np.ndarray]) -> list[Face]:
    faces = []
    for image, candidates in zip(images, found, strict=True):
        assert candidates, "no face found"
        face = select_face(candidates, image.shape)
        assert face is not None
        faces.append(face)
    return faces


# --- BlazeFace -------------------------------------------------------------------------------


def test_blazeface_alignment_lands_near_the_template_subset(
    blazeface_faces: list[Face], lfw_images: list[np.ndarray]
) -> None:
    for image, face in zip(lfw_images, blazeface_faces, strict=True):
        assert face.landmarks is not None
        error = template_error(face)
        assert error.max() < 7.0, error
        assert align_face(image, face).shape == (112, 112, 3)


def test_full_range_model_runs_in_the_tasks_detector(
    build: Callable[..., Detector], lfw_images: list[np.ndarray], multi_face_image: MultiFace
) -> None:
    detector = build("mediapipe_detection", model="full_range")
    assert detector.describe()["detector_model"] == "full_range"
    assert detector.describe()["detector_weights"].endswith("face_detection_full_range.tflite")
    found = detector.detect([*lfw_images, multi_face_image[0]])
    for face in _selected(found[:-1], lfw_images):
        assert face.landmark_names == LANDMARK_NAMES
        assert_landmark_order(face)
    image, extent = multi_face_image
    assert len(found[-1]) == 5
    assert_central_face_chosen(found[-1], image.shape, extent)


def test_blazeface_multi_face_image(blazeface: MediaPipeFaceDetector, multi_face_image: MultiFace) -> None:
    """Short range misses the two smallest faces here (about 15 px at its 128 px input: below its
    range); it finds the rest, and the central face is the one selected."""
    image, extent = multi_face_image
    faces = blazeface.detect([image])[0]
    assert len(faces) >= 3
    assert_central_face_chosen(faces, image.shape, extent)


def test_metadata_leaves_the_network_unchanged(tmp_path: Path) -> None:
    """The Tasks model bytes compute exactly what the original file does; a second pass, on a
    model that already has metadata, returns it untouched."""
    original = resolve(WEIGHTS[BlazeFaceModel.short_range].name)
    prepared = blazeface_task_model(original)
    (tmp_path / "prepared.tflite").write_bytes(prepared)
    assert blazeface_task_model(tmp_path / "prepared.tflite") == prepared

    pixels = np.random.default_rng(0).uniform(-1, 1, (1, 128, 128, 3)).astype(np.float32)
    outputs = []
    for model in (original.read_bytes(), prepared):
        interpreter = Interpreter(model_content=model, num_threads=1)
        interpreter.allocate_tensors()
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], pixels)
        interpreter.invoke()
        outputs.append([interpreter.get_tensor(out["index"]) for out in interpreter.get_output_details()])
    for before, after in zip(*outputs, strict=True):
        np.testing.assert_array_equal(before, after)


def test_blazeface_options_and_describe(blazeface: MediaPipeFaceDetector) -> None:
    info = blazeface.describe()
    assert info["detector_backend"].startswith("mediapipe") and info["detector_model"] == "short_range"
    assert info["detector_weights"].endswith("face_detection_short_range.tflite")
    with pytest.raises(ValidationError, match=r"Invalid value 'long_range', expected one of"):
        create_detector("mediapipe_detection", RUNTIME, model="long_range")


def test_blazeface_score_threshold(build: Callable[..., Detector], lfw_images: list[np.ndarray]) -> None:
    """The default keeps one face per LFW image; a low ``score_threshold`` lets BlazeFace's
    weak candidates through, none below it."""
    default = build("mediapipe_detection").detect(lfw_images)
    loose = build("mediapipe_detection", score_threshold=0.05).detect(lfw_images)
    assert all(len(faces) == 1 for faces in default)
    assert sum(map(len, loose)) > len(lfw_images)
    assert all(min(face.score for face in faces) >= 0.05 for faces in loose)


# --- Face Mesh -------------------------------------------------------------------------------


def test_mesh_eye_contours_are_mediapipes() -> None:
    def points(connections: list) -> set[int]:
        return {index for c in connections for index in (c.start, c.end)}

    assert set(MESH_LEFT_EYE) == points(FaceLandmarksConnections.FACE_LANDMARKS_LEFT_EYE)
    assert set(MESH_RIGHT_EYE) == points(FaceLandmarksConnections.FACE_LANDMARKS_RIGHT_EYE)


def test_mesh_covers_the_face(mesh_faces: list[Face]) -> None:
    for face in mesh_faces:
        assert isinstance(face, MeshFace) and face.mesh is not None
        assert face.mesh.shape == (MESH_POINTS, 3) and face.presence > 0.9
        # The mesh covers the whole face (forehead, chin), so it reaches past BlazeFace's box a little.
        x1, y1, x2, y2 = face.box
        margin = 0.25 * face.width
        assert np.all(
            (face.mesh[:, :2] >= [x1 - margin, y1 - margin])
            & (face.mesh[:, :2] <= [x2 + margin, y2 + margin])
        )


def test_mesh_eyes_agree_with_blazeface(mesh_faces: list[Face], blazeface_faces: list[Face]) -> None:
    for mesh_face, blaze in zip(mesh_faces, blazeface_faces, strict=True):
        assert mesh_face.landmarks is not None and blaze.landmarks is not None
        np.testing.assert_allclose(mesh_face.box, blaze.box)
        distance = np.linalg.norm(mesh_face.landmarks[:2] - blaze.landmarks[:2], axis=1)
        inter_ocular = np.linalg.norm(blaze.landmarks[1] - blaze.landmarks[0])
        assert distance.max() < 0.15 * inter_ocular, (distance, inter_ocular)


def test_mesh_alignment_lands_near_the_template(mesh_faces: list[Face]) -> None:
    template = template_points(FIVE_POINTS)
    for face in mesh_faces:
        assert face.landmarks is not None
        error = np.linalg.norm(
            apply_affine(similarity_to_template(face.landmarks, FIVE_POINTS), face.landmarks) - template,
            axis=1,
        )
        assert error.max() < 8.0, error


def test_mesh_follows_a_rotated_face(
    mesh_detector: MediaPipeMeshDetector, lfw_images: list[np.ndarray], mesh_faces: list[Face]
) -> None:
    """The crop is levelled on the eyes: a face turned by 25 degrees gets the same mesh, turned."""
    image = lfw_images[3]
    rotation = cv2.getRotationMatrix2D((125.0, 125.0), 25.0, 1.0)
    turned = cv2.warpAffine(image, rotation, (250, 250), flags=cv2.INTER_LINEAR)
    face = select_face(mesh_detector.detect([turned])[0], turned.shape)
    assert isinstance(face, MeshFace) and face.mesh is not None
    expected = mesh_faces[3]
    assert isinstance(expected, MeshFace) and expected.mesh is not None
    # cv2's matrix maps pixel centres; both meshes are in pixel-edge coordinates.
    moved = apply_affine(rotation, expected.mesh[:, :2] - 0.5) + 0.5
    assert np.median(np.linalg.norm(face.mesh[:, :2] - moved, axis=1)) < 2.0


def test_mesh_multi_face_image(
    build: Callable[..., Detector], mesh_detector: MediaPipeMeshDetector, multi_face_image: MultiFace
) -> None:
    image, extent = multi_face_image
    faces = mesh_detector.detect([image])[0]
    assert len(faces) >= 3  # as BlazeFace short range (see above)
    assert_central_face_chosen(faces, image.shape, extent)
    full_range = build("mediapipe_mesh", box_detector_options={"model": "full_range"})
    assert isinstance(full_range, MediaPipeMeshDetector)
    assert full_range.face_detector.model == BlazeFaceModel.full_range
    faces = full_range.detect([image])[0]
    assert len(faces) == 5 and all(isinstance(face, MeshFace) for face in faces)
    assert_central_face_chosen(faces, image.shape, extent)


def test_mesh_batch_matches_single_images(
    mesh_detector: MediaPipeMeshDetector, lfw_images: list[np.ndarray]
) -> None:
    """The 468 points too (the contract test compares the five and the boxes)."""
    batch = lfw_images[:3]
    for image, expected in zip(batch, mesh_detector.detect(batch), strict=True):
        got = mesh_detector.detect([image])[0]
        assert len(got) == len(expected)
        for a, b in zip(got, expected, strict=True):
            assert isinstance(a, MeshFace) and isinstance(b, MeshFace)
            np.testing.assert_allclose(a.mesh, b.mesh, atol=1e-3)
            assert a.presence == pytest.approx(b.presence, abs=1e-6)


def test_mesh_describe(mesh_detector: MediaPipeMeshDetector) -> None:
    info = mesh_detector.describe()
    assert "LiteRT" in info["detector_backend"] and info["detector_model"] == "short_range"
    assert info["detector_mesh_weights"].endswith("face_landmark.tflite")


def test_faces_the_mesh_model_does_not_see_are_dropped(
    build: Callable[..., Detector], lfw_images: list[np.ndarray]
) -> None:
    """BlazeFace let loose (score_threshold 0.1) proposes boxes on noise and around a face; the
    mesh's presence (``score_threshold``, default 0.5) keeps only the real face."""
    noise = np.random.default_rng(0).integers(0, 256, (250, 250, 3), dtype=np.uint8)
    images = [noise, lfw_images[0]]
    loose = {"score_threshold": 0.1}
    boxes = build("mediapipe_detection", **loose).detect(images)
    every = build("mediapipe_mesh", score_threshold=0.0, box_detector_options=loose).detect(images)
    kept = build("mediapipe_mesh", box_detector_options=loose).detect(images)
    assert len(boxes[0]) >= 3 and len(boxes[1]) >= 2, boxes
    assert [len(faces) for faces in every] == [len(faces) for faces in boxes]
    assert kept[0] == [] and len(kept[1]) == 1
    (face,) = kept[1]
    assert isinstance(face, MeshFace) and face.presence > 0.9
    assert sorted(f.presence for f in every[1])[-2] < 0.5  # the one kept is the only one above


def test_mesh_model_with_custom_ops_is_refused() -> None:
    attention = resolve("mediapipe_face_landmark_with_attention")
    with pytest.raises(RuntimeError, match="custom op"):
        create_detector("mediapipe_mesh", RUNTIME, path=str(attention))


def test_mesh_options_are_checked() -> None:
    with pytest.raises(ValueError, match=r"detector\.options\.roi_scale must be positive, got 0\.0"):
        create_detector("mediapipe_mesh", RUNTIME, roi_scale=0.0)
    with pytest.raises(
        ValueError, match=r"detector\.options\.score_threshold must lie in \[0, 1\], got 1\.01"
    ):
        create_detector("mediapipe_mesh", RUNTIME, score_threshold=1.01)
    with pytest.raises(ValueError, match=r"'box_detector_options' has no option|detector_model"):
        create_detector("mediapipe_mesh", RUNTIME, detector_model="full_range")


# --- both ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["mediapipe_detection", "mediapipe_mesh"])
def test_a_cuda_runtime_runs_on_the_cpu_and_says_so(
    build: Callable[..., Detector], caplog: pytest.LogCaptureFixture, name: str
) -> None:
    """MediaPipe has no CUDA path: on a run's CUDA runtime (the other stages use the GPU) the
    method runs on the CPU, logs so, and records ``cpu``. Nothing here touches CUDA."""
    cuda = Runtime(torch.device("cuda", 0), (CUDA_PROVIDER, CPU_PROVIDER), detect_threads=1, embed_threads=1)
    with caplog.at_level(logging.WARNING):
        detector = build(name, cuda)
    assert detector.device == "cpu" and detector.describe()["detector_device"] == "cpu"
    assert f"{name} runs on the CPU" in caplog.text and "cuda:0 is not used" in caplog.text
