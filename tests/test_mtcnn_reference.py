"""Our MTCNN against facenet-pytorch 2.6.0, the reference it follows: the same faces on real LFW
images, boxes and landmarks within a pixel (timings: ``benchmarks/mtcnn_reference.py``).

facenet-pytorch pins an old torch, so ``make install`` puts it, without its dependencies, in
``checkpoints/reference``; it is imported from there only.
"""

from __future__ import annotations

import filecmp
import sys
from collections.abc import Iterator

import cv2
import numpy as np
import pytest
import torch

from bench.assets import resolve
from bench.detectors.mtcnn.detector import MTCNNDetector
from bench.detectors.mtcnn.options import MTCNNOptions
from bench.paths import project_root
from bench.runtime import Runtime

REFERENCE = project_root() / "checkpoints" / "reference"
IMAGES, EVERY, BATCH = 64, 100, 32


@pytest.fixture(scope="module")
def facenet() -> Iterator[object]:
    sys.path.insert(0, str(REFERENCE))
    try:
        import facenet_pytorch
    except ImportError as error:
        pytest.fail(f"facenet_pytorch 2.6.0 is not in {REFERENCE}; run `make install` ({error})")
    finally:
        sys.path.remove(str(REFERENCE))
    yield facenet_pytorch


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def images() -> list[np.ndarray]:
    """Every 100th deep-funneled LFW image in path order: a fixed, varied sample."""
    paths = sorted(resolve("lfw_deepfunneled", download=False).glob("*/*.jpg"))[::EVERY][:IMAGES]
    assert len(paths) == IMAGES
    return [cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB) for path in paths]


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    inter = np.prod(np.clip(np.minimum(a[2:], b[2:]) - np.maximum(a[:2], b[:2]), 0, None))
    return float(inter / (np.prod(a[2:] - a[:2]) + np.prod(b[2:] - b[:2]) - inter))


def test_the_reference_ships_our_weights(facenet: object) -> None:
    data = REFERENCE / "facenet_pytorch" / "data"
    for net in ("pnet", "rnet", "onet"):
        assert filecmp.cmp(resolve(f"mtcnn_{net}", download=False), data / f"{net}.pt", shallow=False), net


def test_same_faces_as_facenet_pytorch(facenet: object, one_thread: None, images: list[np.ndarray]) -> None:
    """Same face count per image; boxes (facenet's is ours + [1, 1, 0, 0], unclipped) and
    landmarks (the same pixel-edge coordinates) within a pixel.

    Ours runs in batches, facenet one image at a time: in a batch its last NMS sorts the
    candidates of all images together with numpy's unstable sort, so which of two candidates
    tied at a saturated score of 1.0 survives depends on the other images. Even alone, among
    more than 16 candidates numpy's sort leaves that choice unspecified (image 37: five tied at
    1.0), so a face scored exactly 1.0 need only be the same face (IoU > 0.9).
    """
    options = MTCNNOptions()
    reference = facenet.MTCNN(  # type: ignore[attr-defined]
        keep_all=True,
        device="cpu",
        min_face_size=options.min_face_size,
        thresholds=list(options.score_threshold),
        factor=options.scale_factor,
    )
    ours = MTCNNDetector(options, Runtime.local("cpu", threads=1))
    faces = 0
    for start in range(0, IMAGES, BATCH):
        batch = images[start : start + BATCH]
        for index, (image, mine) in enumerate(zip(batch, ours.detect(batch), strict=True)):
            where = f"image {start + index}"
            boxes, _, points = reference.detect(image, landmarks=True)
            if boxes is None:
                assert mine == [], where
                continue
            assert len(mine) == len(boxes), where
            height, width = image.shape[:2]
            boxes = np.clip(boxes.astype(np.float64) - [1, 1, 0, 0], 0, [width, height, width, height])
            points = points.astype(np.float64)
            for face in mine:
                nearest = int(np.argmin(np.abs(boxes - face.box).max(axis=1)))
                if face.score == 1.0:
                    assert _iou(face.box, boxes[nearest]) > 0.9, where
                else:
                    np.testing.assert_allclose(face.box, boxes[nearest], atol=1.0, err_msg=where)
                    np.testing.assert_allclose(face.landmarks, points[nearest], atol=1.0, err_msg=where)
                faces += 1
    assert faces >= IMAGES  # LFW: at least one face per image, often more
