"""MTCNN in PyTorch: real weights on real LFW faces, batching, odd inputs (CPU only)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from bench.assets import AssetError, resolve
from bench.detectors.base import Face
from bench.detectors.mtcnn import MTCNNDetector
from bench.detectors.registry import create_detector

from .landmark_checks import assert_same_faces

NAMES = (
    "Aaron_Peirsol_0001",
    "George_W_Bush_0001",
    "Serena_Williams_0001",
    "Colin_Powell_0001",
    "Tony_Blair_0001",
    "Jennifer_Aniston_0001",
    "Gloria_Macapagal_Arroyo_0001",
    "Hugo_Chavez_0001",
)


def _resolve_or_skip(name: str) -> Path:
    try:
        return resolve(name, download=False)
    except AssetError as error:
        pytest.skip(f"asset {name} is not available locally: {error}")


def _load_rgb(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None, path
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def detector() -> MTCNNDetector:
    for net in ("pnet", "rnet", "onet"):
        _resolve_or_skip(f"mtcnn_{net}")
    return MTCNNDetector()


@pytest.fixture(scope="module")
def images() -> list[np.ndarray]:
    root = _resolve_or_skip("lfw_deepfunneled")
    paths = [root / name.rsplit("_", 1)[0] / f"{name}.jpg" for name in NAMES]
    missing = [str(p) for p in paths if not p.exists()]
    assert not missing, f"LFW images missing: {missing}"
    return [_load_rgb(path) for path in paths]


@pytest.fixture(scope="module")
def batch_faces(detector: MTCNNDetector, images: list[np.ndarray]) -> list[list[Face]]:
    return detector.detect(images)


def _central(faces: list[Face], width: int, height: int) -> Face:
    centre = np.array([width / 2, height / 2])
    return min(faces, key=lambda f: float(np.linalg.norm(f.box.reshape(2, 2).mean(0) - centre)))


def test_finds_faces_with_plausible_landmarks(
    batch_faces: list[list[Face]], images: list[np.ndarray]
) -> None:
    for name, image, faces in zip(NAMES, images, batch_faces, strict=True):
        height, width = image.shape[:2]
        assert faces, f"no face found in {name}"
        assert [f.score for f in faces] == sorted((f.score for f in faces), reverse=True)
        face = _central(faces, width, height)
        x1, y1, x2, y2 = face.box
        assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height
        assert face.score > 0.9
        # LFW deep-funneled faces sit in the middle of the 250x250 frame.
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        assert abs(cx - width / 2) < 40 and abs(cy - height / 2) < 40, (name, face.box)
        assert 60 < x2 - x1 < 180, (name, face.box)

        points = face.landmarks
        assert points is not None and points.shape == (5, 2)
        assert np.all((points[:, 0] > x1) & (points[:, 0] < x2)), (name, points, face.box)
        assert np.all((points[:, 1] > y1) & (points[:, 1] < y2)), (name, points, face.box)
        left_eye, right_eye, nose, left_mouth, right_mouth = points
        # FIVE_POINTS order, as the image shows the face.
        assert left_eye[0] < right_eye[0] and left_mouth[0] < right_mouth[0], name
        assert max(left_eye[1], right_eye[1]) < nose[1] < min(left_mouth[1], right_mouth[1]), name
        assert left_eye[0] < nose[0] < right_eye[0], name


def test_batch_matches_single_images(
    detector: MTCNNDetector, images: list[np.ndarray], batch_faces: list[list[Face]]
) -> None:
    for image, expected in zip(images, batch_faces, strict=True):
        assert_same_faces(detector.detect([image])[0], expected)


def test_deterministic(
    detector: MTCNNDetector, images: list[np.ndarray], batch_faces: list[list[Face]]
) -> None:
    again = detector.detect(images)
    for got, expected in zip(again, batch_faces, strict=True):
        assert_same_faces(got, expected, tol=0.0)


def test_mixed_sizes_in_one_batch(
    detector: MTCNNDetector, images: list[np.ndarray], batch_faces: list[list[Face]]
) -> None:
    resized = cv2.resize(images[1], (320, 240), interpolation=cv2.INTER_AREA)
    faces = detector.detect([images[0], resized, images[2]])
    assert len(faces) == 3
    assert_same_faces(faces[0], batch_faces[0])
    assert_same_faces(faces[2], batch_faces[2])
    assert_same_faces(faces[1], detector.detect([resized])[0])

    face = _central(faces[1], 320, 240)
    original = _central(batch_faces[1], 250, 250)
    scale = np.array([320 / 250, 240 / 250])
    expected_centre = original.box.reshape(2, 2).mean(0) * scale
    assert np.linalg.norm(face.box.reshape(2, 2).mean(0) - expected_centre) < 10
    assert np.all(face.box[2:] <= [320, 240])


def test_face_crossing_the_border(detector: MTCNNDetector, images: list[np.ndarray]) -> None:
    """Part of the face is cut off: the zero-padded crops still find it, the box is clipped."""
    cut = np.ascontiguousarray(images[1][80:, 90:])
    faces = detector.detect([cut])[0]
    assert faces
    box = faces[0].box
    assert box[0] == 0.0 and box[1] == 0.0
    assert box[2] <= cut.shape[1] and box[3] <= cut.shape[0]


def test_no_face(detector: MTCNNDetector) -> None:
    grey = np.full((200, 200, 3), 128, dtype=np.uint8)
    noise = np.random.default_rng(0).integers(0, 256, size=(180, 240, 3), dtype=np.uint8)
    tiny = np.zeros((8, 8, 3), dtype=np.uint8)  # smaller than the smallest face: no pyramid at all
    assert detector.detect([grey, noise, tiny]) == [[], [], []]
    assert detector.detect([tiny]) == [[]]
    assert detector.detect([]) == []


def test_rejects_non_rgb(detector: MTCNNDetector) -> None:
    with pytest.raises(ValueError, match="HxWx3"):
        detector.detect([np.zeros((32, 32), dtype=np.uint8)])


def test_registry_and_describe(detector: MTCNNDetector) -> None:
    made = create_detector("mtcnn", min_face_size=40)
    assert isinstance(made, MTCNNDetector) and made.name == "mtcnn"
    info = detector.describe()
    assert info["detector"] == "mtcnn"
    assert info["detector_backend"] == "torch"
    assert info["detector_device"] == "cpu"


def test_explicit_weights(detector: MTCNNDetector, tmp_path: Path) -> None:
    with pytest.raises(AssetError):
        MTCNNDetector(weights={"pnet": str(tmp_path / "missing.pt")})
    with pytest.raises(ValueError, match="unknown MTCNN weight keys"):
        MTCNNDetector(weights={"qnet": None})
    explicit = MTCNNDetector(weights={"onet": str(detector.weight_paths["onet"])})
    assert explicit.weight_paths["onet"] == detector.weight_paths["onet"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised without CUDA")
def test_cuda_requested_without_cuda() -> None:
    with pytest.raises(RuntimeError, match="CUDA"):
        MTCNNDetector(device="cuda")
