"""MediaPipe BlazeFace (Tasks FaceDetector) and Face Mesh (LiteRT): real weights, real LFW faces, CPU."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from ai_edge_litert.interpreter import Interpreter
from mediapipe.tasks.python.vision.face_landmarker import FaceLandmarksConnections

from bench.alignment import align_face, similarity_to_template, template_points
from bench.assets import resolve
from bench.detectors import FIVE_POINTS, Face, create_detector, select_face
from bench.detectors.mediapipe_common import blazeface_task_model
from bench.detectors.mediapipe_detection import LANDMARK_NAMES, MODELS, MediaPipeFaceDetector
from bench.detectors.mediapipe_mesh import (
    MESH_LEFT_EYE,
    MESH_POINTS,
    MESH_RIGHT_EYE,
    MediaPipeMeshDetector,
    MeshFace,
)

from .landmark_checks import (
    apply_affine,
    assert_central_face_chosen,
    assert_plausible_face,
    assert_same_faces,
    template_error,
)

MultiFace = tuple[np.ndarray, tuple[float, float, float, float]]


@pytest.fixture(scope="module")
def blazeface() -> MediaPipeFaceDetector:
    made = create_detector("mediapipe_detection")
    assert isinstance(made, MediaPipeFaceDetector)
    return made


@pytest.fixture(scope="module")
def mesh_detector() -> MediaPipeMeshDetector:
    made = create_detector("mediapipe_mesh", num_threads=1)
    assert isinstance(made, MediaPipeMeshDetector)
    return made


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
        assert [f.score for f in candidates] == sorted((f.score for f in candidates), reverse=True)
        face = select_face(candidates, image.shape)
        assert face is not None
        faces.append(face)
    return faces


def _assert_blazeface_order(face: Face) -> None:
    """The four points as an upright face shows them, inside the box."""
    assert face.landmark_names == LANDMARK_NAMES and face.landmarks is not None
    left_eye, right_eye, nose, mouth = face.landmarks
    assert left_eye[0] < nose[0] < right_eye[0] and left_eye[0] < mouth[0] < right_eye[0]
    assert max(left_eye[1], right_eye[1]) < nose[1] < mouth[1]
    x1, y1, x2, y2 = face.box
    assert np.all((face.landmarks >= [x1, y1]) & (face.landmarks <= [x2, y2])), (face.landmarks, face.box)


# --- BlazeFace -------------------------------------------------------------------------------


def test_blazeface_points_in_order(blazeface_faces: list[Face], lfw_images: list[np.ndarray]) -> None:
    for image, face in zip(lfw_images, blazeface_faces, strict=True):
        _assert_blazeface_order(face)
        height, width = image.shape[:2]
        assert face.score > 0.8 and 60 < face.width < 180
        assert abs(face.box[0::2].mean() - width / 2) < 0.2 * width
        assert abs(face.box[1::2].mean() - height / 2) < 0.2 * height


def test_blazeface_alignment_lands_near_the_template_subset(
    blazeface_faces: list[Face], lfw_images: list[np.ndarray]
) -> None:
    for image, face in zip(lfw_images, blazeface_faces, strict=True):
        assert face.landmarks is not None
        error = template_error(face)
        assert error.max() < 7.0, error
        assert align_face(image, face).shape == (112, 112, 3)


def test_full_range_model_runs_in_the_tasks_detector(
    lfw_images: list[np.ndarray], multi_face_image: MultiFace
) -> None:
    detector = create_detector("mediapipe_detection", model="full_range")
    assert detector.describe()["detector_model"] == "full_range"
    found = detector.detect([*lfw_images, multi_face_image[0]])
    for face in _selected(found[:-1], lfw_images):
        _assert_blazeface_order(face)
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
    original = resolve(MODELS["short_range"])
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


def test_blazeface_batch_matches_single_images(
    blazeface: MediaPipeFaceDetector, lfw_images: list[np.ndarray]
) -> None:
    wide = cv2.resize(lfw_images[0], (400, 300), interpolation=cv2.INTER_LINEAR)
    batch = [lfw_images[1], wide, lfw_images[2]]
    for image, expected in zip(batch, blazeface.detect(batch), strict=True):
        assert_same_faces(blazeface.detect([image])[0], expected)
    _assert_blazeface_order(select_face(blazeface.detect([wide])[0], wide.shape))


def test_blazeface_options_and_describe(blazeface: MediaPipeFaceDetector) -> None:
    info = blazeface.describe()
    assert info["detector"] == "mediapipe_detection" and info["detector_device"] == "cpu"
    assert info["detector_backend"].startswith("mediapipe") and info["detector_model"] == "short_range"
    with pytest.raises(ValueError, match="short_range"):
        MediaPipeFaceDetector(model="long_range")


# --- Face Mesh -------------------------------------------------------------------------------


def test_mesh_eye_contours_are_mediapipes() -> None:
    def points(connections: list) -> set[int]:
        return {index for c in connections for index in (c.start, c.end)}

    assert set(MESH_LEFT_EYE) == points(FaceLandmarksConnections.FACE_LANDMARKS_LEFT_EYE)
    assert set(MESH_RIGHT_EYE) == points(FaceLandmarksConnections.FACE_LANDMARKS_RIGHT_EYE)


def test_mesh_five_points_are_plausible(mesh_faces: list[Face], lfw_images: list[np.ndarray]) -> None:
    for image, face in zip(lfw_images, mesh_faces, strict=True):
        assert_plausible_face(face, image.shape)
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


def test_mesh_multi_face_image(mesh_detector: MediaPipeMeshDetector, multi_face_image: MultiFace) -> None:
    image, extent = multi_face_image
    faces = mesh_detector.detect([image])[0]
    assert len(faces) >= 3  # as BlazeFace short range (see above)
    assert_central_face_chosen(faces, image.shape, extent)
    full_range = create_detector("mediapipe_mesh", detector_model="full_range", num_threads=1)
    faces = full_range.detect([image])[0]
    assert len(faces) == 5 and all(isinstance(face, MeshFace) for face in faces)
    assert_central_face_chosen(faces, image.shape, extent)


def test_mesh_batch_matches_single_images(
    mesh_detector: MediaPipeMeshDetector, lfw_images: list[np.ndarray]
) -> None:
    batch = lfw_images[:3]
    for image, expected in zip(batch, mesh_detector.detect(batch), strict=True):
        got = mesh_detector.detect([image])[0]
        assert_same_faces(got, expected)
        for a, b in zip(got, expected, strict=True):
            assert isinstance(a, MeshFace) and isinstance(b, MeshFace)
            np.testing.assert_allclose(a.mesh, b.mesh, atol=1e-3)


def test_mesh_describe(mesh_detector: MediaPipeMeshDetector) -> None:
    info = mesh_detector.describe()
    assert info["detector"] == "mediapipe_mesh" and info["detector_device"] == "cpu"
    assert "LiteRT" in info["detector_backend"] and info["detector_model"] == "short_range"
    assert info["detector_mesh_weights"].endswith("face_landmark.tflite")


def test_faces_the_mesh_model_does_not_see_are_dropped(lfw_images: list[np.ndarray]) -> None:
    assert MediaPipeMeshDetector(min_presence_confidence=1.01).detect(lfw_images[:1]) == [[]]


def test_mesh_model_with_custom_ops_is_refused() -> None:
    attention = resolve("mediapipe_face_landmark_with_attention")
    with pytest.raises(RuntimeError, match="custom op"):
        MediaPipeMeshDetector(path=str(attention))


# --- both ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["mediapipe_detection", "mediapipe_mesh"])
def test_image_without_a_face(
    name: str, blazeface: MediaPipeFaceDetector, mesh_detector: MediaPipeMeshDetector
) -> None:
    detector = blazeface if name == "mediapipe_detection" else mesh_detector
    grey = np.full((250, 250, 3), 128, dtype=np.uint8)
    tiny = np.zeros((4, 7, 3), dtype=np.uint8)
    assert detector.detect([grey, tiny]) == [[], []]
    assert detector.detect([]) == []
    with pytest.raises(ValueError, match="HxWx3"):
        detector.detect([np.zeros((32, 32), dtype=np.uint8)])


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised without CUDA")
@pytest.mark.parametrize("name", ["mediapipe_detection", "mediapipe_mesh"])
def test_cuda_requested_without_cuda(name: str) -> None:
    with pytest.raises(RuntimeError, match="CUDA"):
        create_detector(name, device="cuda")
