"""Batched alignment: OpenCV is ``align_face`` exactly, the torch warp matches it (CPU).

The torch path is the GPU path run on the CPU; it is compared with ``cv2.warpAffine`` on real
LFW images with real YuNet detections and on synthetic faces placed by known similarity
transforms (rotation, scaling, translation, a face partly outside the image). With the pinned
OpenCV the two agree to within one grey level everywhere, border pixels included, so the
tolerances below are that tight: a wrong pixel-centre or ``align_corners`` convention shifts
the image by half a pixel and shows up as differences of tens of levels.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from bench.alignment import ALIGNED_SIZE, BatchAligner, align_face, face_transform, template_points
from bench.detectors import FIVE_POINTS, Face, create_detector, select_face
from bench.models import create_embedder
from bench.runtime import Runtime

#: Measured: at most 1 grey level apart (a rounding tie), on ~0.1% of values at most.
MAX_DIFF = 1
MAX_DIFFERING_FRACTION = 0.01


def similarity(points: np.ndarray, angle: float, scale: float, shift: tuple[float, float]) -> np.ndarray:
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return points @ rotation.T * scale + np.array(shift)


def assert_close_to_opencv(got: np.ndarray, expected: np.ndarray) -> None:
    diff = np.abs(got.astype(np.int16) - expected.astype(np.int16))
    assert diff.max() <= MAX_DIFF, f"max |diff| {diff.max()}"
    assert (diff > 0).mean() < MAX_DIFFERING_FRACTION, f"{(diff > 0).mean():.2%} of values differ"


def mixed_sizes(images: list[np.ndarray]) -> list[np.ndarray]:
    """Three image sizes interleaved, so that shape groups do not follow input order."""
    return [
        images[0],
        cv2.resize(images[1], (400, 300)),
        images[2],
        np.ascontiguousarray(images[3][20:220, 30:210]),
        images[4],
        cv2.resize(images[5], (300, 400)),
    ]


@pytest.fixture(scope="module")
def detections(lfw_images: list[np.ndarray]) -> tuple[list[np.ndarray], list[Face]]:
    """Real images of three sizes with YuNet's chosen face in each."""
    images = mixed_sizes(lfw_images)
    found = create_detector("yunet").detect(images)
    faces = [select_face(candidates, image.shape) for candidates, image in zip(found, images, strict=True)]
    assert all(face is not None for face in faces)
    return images, faces


def test_opencv_backend_is_align_face_exactly(detections: tuple[list[np.ndarray], list[Face]]) -> None:
    images, faces = detections
    faces = [*faces[:-1], Face(box=faces[-1].box, score=1.0)]  # one box crop, without landmarks
    aligned = BatchAligner().align(images, faces)
    assert isinstance(aligned, np.ndarray)
    assert aligned.shape == (len(images), ALIGNED_SIZE, ALIGNED_SIZE, 3)
    assert aligned.dtype == np.uint8
    for index, (image, face) in enumerate(zip(images, faces, strict=True)):
        np.testing.assert_array_equal(aligned[index], align_face(image, face))


@pytest.mark.parametrize(
    ("angle", "scale", "shift", "outside"),
    [
        (0.0, 2.0, (15.0, 10.0), False),  # scaling + translation
        (0.6, 1.2, (120.0, 10.0), False),  # rotation
        (-0.35, 0.7, (80.3, 120.6), False),  # small face: the warp upsamples
        (0.25, 2.6, (120.0, 90.0), True),  # a face partly outside the image
    ],
)
def test_torch_warp_matches_opencv(
    lfw_images: list[np.ndarray], angle: float, scale: float, shift: tuple[float, float], outside: bool
) -> None:
    landmarks = similarity(template_points(FIVE_POINTS), angle, scale, shift)
    faces = [Face(box=[0, 0, 1, 1], score=1.0, landmarks=landmarks)] * len(lfw_images)
    aligned = BatchAligner(backend="torch").align(lfw_images, faces)
    assert isinstance(aligned, torch.Tensor)
    assert aligned.dtype == torch.uint8
    expected = np.stack([align_face(image, face) for image, face in zip(lfw_images, faces, strict=True)])
    assert_close_to_opencv(aligned.numpy(), expected)

    # The source pixel under each output pixel: the last case must really reach outside.
    inverse = cv2.invertAffineTransform(face_transform(faces[0]))
    rows, cols = np.mgrid[:ALIGNED_SIZE, :ALIGNED_SIZE]
    source = np.stack([cols, rows, np.ones_like(cols)], axis=-1) @ inverse.T
    height, width = lfw_images[0].shape[:2]
    beyond = ((source < 0) | (source > (width - 1, height - 1))).any(axis=-1).mean()
    assert (beyond > 0.2) if outside else (beyond == 0)


def test_torch_warp_matches_opencv_on_noise() -> None:
    """Uncorrelated pixels: any interpolation-weight error shows at full contrast."""
    image = np.random.default_rng(0).integers(0, 256, (180, 240, 3), dtype=np.uint8)
    landmarks = similarity(template_points(FIVE_POINTS), 0.37, 0.93, (60.4, 20.7))
    face = Face(box=[0, 0, 1, 1], score=1.0, landmarks=landmarks)
    aligned = BatchAligner(backend="torch").align([image], [face])
    assert_close_to_opencv(aligned[0].numpy(), align_face(image, face))


def test_mixed_sizes_come_back_in_input_order(detections: tuple[list[np.ndarray], list[Face]]) -> None:
    images, faces = detections
    aligned = BatchAligner(backend="torch").align(images, faces)
    assert aligned.shape == (len(images), ALIGNED_SIZE, ALIGNED_SIZE, 3)
    for index, (image, face) in enumerate(zip(images, faces, strict=True)):
        assert_close_to_opencv(aligned[index].numpy(), align_face(image, face))


def test_embeddings_agree(detections: tuple[list[np.ndarray], list[Face]]) -> None:
    """Measured cosine >= 0.9999996 on 300 LFW faces; 0.9999 still fails a warp half a pixel
    off (``align_corners=True`` in ``grid_sample`` alone gives 0.99955), which 0.999 would not."""
    images, faces = detections
    embedder = create_embedder({"name": "edgeface_xs_gamma_06"})
    reference = embedder.embed(BatchAligner().align(images, faces))
    warped = embedder.embed(BatchAligner(backend="torch").align(images, faces).numpy())
    cosine = (reference * warped).sum(axis=1)
    assert cosine.min() > 0.9999, cosine


def test_empty_batch() -> None:
    assert BatchAligner().align([], []).shape == (0, ALIGNED_SIZE, ALIGNED_SIZE, 3)
    empty = BatchAligner(backend="torch", size=64).align([], [])
    assert empty.shape == (0, 64, 64, 3)
    assert empty.dtype == torch.uint8


def test_bad_arguments_are_clear_errors(lfw_images: list[np.ndarray]) -> None:
    with pytest.raises(ValueError, match="unknown alignment backend 'pil'"):
        BatchAligner(backend="pil")
    with pytest.raises(ValueError, match="opencv backend runs on the CPU only"):
        BatchAligner(device="cuda", backend="opencv")
    with pytest.raises(RuntimeError, match="device type at start of device string: gpu"):
        BatchAligner(device="gpu")  # torch.device's own error
    face = Face(box=[50, 50, 200, 200], score=1.0)
    with pytest.raises(ValueError, match="2 images and 1 faces"):
        BatchAligner().align(lfw_images[:2], [face])
    with pytest.raises(ValueError, match="image 0 must be HxWx3 uint8"):
        BatchAligner(backend="torch").align([lfw_images[0].astype(np.float32)], [face])


def test_the_device_is_taken_as_given() -> None:
    """The run's ``Runtime.device`` (already checked to exist) picks the backend; the aligner
    does not look for CUDA itself, so this holds on a machine without it."""
    on_cpu = BatchAligner(torch.device("cpu"), pin_memory=True)
    assert (on_cpu.device, on_cpu.backend, on_cpu.pin_memory) == ("cpu", "opencv", False)
    on_gpu = BatchAligner(torch.device("cuda", 1), pin_memory=True)
    assert (on_gpu.device, on_gpu.backend, on_gpu.pin_memory) == ("cuda:1", "torch", True)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device to compare GPU with CPU")
def test_gpu_matches_cpu(detections: tuple[list[np.ndarray], list[Face]]) -> None:
    images, faces = detections
    aligner = BatchAligner(device=Runtime.local("cuda").device, pin_memory=True)
    assert aligner.backend == "torch"
    assert aligner.device.startswith("cuda:")
    aligned = aligner.align(images, faces)
    assert isinstance(aligned, torch.Tensor)
    assert aligned.device.type == "cuda"
    assert_close_to_opencv(aligned.cpu().numpy(), BatchAligner().align(images, faces))
