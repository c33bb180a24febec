"""Figures: PNGs are written, readable and laid out as documented."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from bench.metrics import evaluate_verification
from bench.reporting import plot_roc, plot_roc_curves, save_face_grid
from bench.reporting.plots import FACE_SIZE

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def read_png(path: Path) -> np.ndarray:
    assert path.is_file()
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def faces(count: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (FACE_SIZE, FACE_SIZE, 3), dtype=np.uint8) for _ in range(count)]


@pytest.fixture
def roc() -> tuple[np.ndarray, np.ndarray, float]:
    rng = np.random.default_rng(0)
    labels = np.repeat([1, 0], 300)
    scores = rng.normal(size=600) + 2 * labels
    result = evaluate_verification(scores, labels, np.tile(np.repeat([0, 1], 150), 2))
    return result.fpr, result.tpr, result.auc


def test_plot_roc(tmp_path: Path, roc) -> None:
    fpr, tpr, auc = roc
    path = plot_roc(fpr, tpr, tmp_path / "nested" / "roc.png", label="arcface / retinaface", auc=auc)
    assert path == tmp_path / "nested" / "roc.png"
    image = read_png(path)
    assert image.shape[0] > 300 and image.shape[1] > 300
    assert image.std() > 10  # not a blank canvas


def test_plot_roc_without_auc_and_zero_fpr(tmp_path: Path) -> None:
    # FPR 0 cannot go on a log axis: it is clipped, not dropped or fatal.
    path = plot_roc(np.array([0.0, 0.0, 1.0]), np.array([0.0, 1.0, 1.0]), tmp_path / "roc.png", label="ideal")
    read_png(path)


def test_plot_roc_curves(tmp_path: Path, roc) -> None:
    fpr, tpr, auc = roc
    path = plot_roc_curves({"aligned": (fpr, tpr, auc), "no alignment": (fpr, tpr, None)}, tmp_path / "r.png")
    read_png(path)
    with pytest.raises(ValueError):
        plot_roc_curves({}, tmp_path / "empty.png")


@pytest.mark.parametrize(("count", "columns"), [(1, 8), (8, 8), (11, 4), (20, 8), (3, 1)])
def test_face_grid_dimensions(tmp_path: Path, count: int, columns: int) -> None:
    padding = 4
    path = save_face_grid(faces(count), tmp_path / "grid.png", columns=columns, padding=padding)
    image = read_png(path)
    rows, cols = math.ceil(count / columns), min(count, columns)
    assert image.shape == (rows * (FACE_SIZE + padding) + padding, cols * (FACE_SIZE + padding) + padding, 3)


def test_face_grid_places_faces_in_rgb(tmp_path: Path) -> None:
    red = np.zeros((FACE_SIZE, FACE_SIZE, 3), dtype=np.uint8)
    red[..., 0] = 255
    image = read_png(save_face_grid([red, red], tmp_path / "g.png", columns=1, padding=2))  # BGR
    assert tuple(image[2 + 50, 2 + 50]) == (0, 0, 255)
    assert tuple(image[2 + FACE_SIZE + 2 + 50, 2 + 50]) == (0, 0, 255)
    assert tuple(image[0, 0]) == (255, 255, 255)


def test_face_grid_captions_and_landmarks(tmp_path: Path) -> None:
    count, columns = 10, 4
    plain = read_png(save_face_grid(faces(count), tmp_path / "plain.png", columns=columns))
    captions = [f"Aaron_Peirsol_{i:04d}.jpg" + ("\nfallback" if i % 2 else "") for i in range(count)]
    points = np.array([[38.3, 51.7], [73.5, 51.5], [56.0, 71.7], [41.5, 92.4], [70.7, 92.2]])
    landmarks = [points if i % 3 else None for i in range(count)]
    path = save_face_grid(faces(count), tmp_path / "grid.png", captions, columns=columns, landmarks=landmarks)
    image = read_png(path)
    assert image.shape[1] == plain.shape[1]
    assert image.shape[0] > plain.shape[0]  # room for the captions under each row
    # Caption text is dark pixels on the white strip below the first face.
    strip = image[4 + FACE_SIZE : 4 + FACE_SIZE + 12, 4 : 4 + FACE_SIZE]
    assert strip.min() < 100


def test_face_grid_draws_points(tmp_path: Path) -> None:
    grey = np.full((FACE_SIZE, FACE_SIZE, 3), 128, dtype=np.uint8)
    point = np.array([[56.0, 56.0]])
    image = read_png(save_face_grid([grey], tmp_path / "g.png", landmarks=[point], padding=0))
    assert not np.array_equal(image[56, 56], [128, 128, 128])
    assert np.array_equal(image[10, 10], [128, 128, 128])


def test_face_grid_resizes_and_accepts_grey(tmp_path: Path) -> None:
    big = np.zeros((224, 224, 3), dtype=np.uint8)
    grey = np.zeros((FACE_SIZE, FACE_SIZE), dtype=np.uint8)
    image = read_png(save_face_grid([big, grey], tmp_path / "g.png", padding=0))
    assert image.shape == (FACE_SIZE, 2 * FACE_SIZE, 3)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"faces": []}, "no faces"),
        ({"captions": ["one"]}, "captions"),
        ({"landmarks": [None]}, "landmark"),
        ({"columns": 0}, "columns"),
        ({"faces": [np.zeros((112, 112, 3), dtype=np.float32)] * 2}, "uint8"),
        ({"faces": [np.zeros((112, 112, 4), dtype=np.uint8)] * 2}, "RGB"),
    ],
)
def test_face_grid_errors(tmp_path: Path, kwargs: dict, message: str) -> None:
    arguments = {"faces": faces(2), "path": tmp_path / "g.png", **kwargs}
    with pytest.raises(ValueError, match=message):
        save_face_grid(**arguments)
