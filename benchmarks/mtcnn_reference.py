"""Our MTCNN against facenet-pytorch's, its reference: speed and agreement on the same images.

    python benchmarks/mtcnn_reference.py                 # 512 LFW images, batches of 32, 1 and 2 threads
    python benchmarks/mtcnn_reference.py --images 128 --threads 1

Both run the same weights with the same options on the same decoded RGB images, batch by batch,
in one process on the CPU. Times are the best of ``--repeats`` passes over all images (the
minimum is the least disturbed by other work on the machine). facenet-pytorch comes from
``checkpoints/reference`` (``make install`` puts it there without its dependencies: it pins an
old torch). Agreement: per image the same number of faces; per face the largest coordinate
difference of the box (facenet's ``[x1, y1, x2, y2]`` is ours plus ``[1, 1, 0, 0]``, unclipped)
and of the five landmarks, in pixels. facenet is also run one image at a time: in a batch its
last NMS sorts all images' candidates together with numpy's unstable sort, so between candidates
tied at a saturated score of 1.0 the survivor depends on the other images of the batch.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence

import cv2
import numpy as np
import torch

from bench.assets import resolve
from bench.cpu import cpu_info
from bench.detectors.mtcnn.detector import MTCNNDetector
from bench.detectors.mtcnn.options import MTCNNOptions
from bench.paths import project_root
from bench.runtime import Runtime

REFERENCE = project_root() / "checkpoints" / "reference"

#: Boxes and landmarks of one image, each ``N x 4`` and ``N x 5 x 2``.
Detections = tuple[np.ndarray, np.ndarray]


def lfw_images(count: int) -> list[np.ndarray]:
    """``count`` LFW images spread evenly over the sorted paths (the same ones every run), RGB."""
    paths = sorted(resolve("lfw_deepfunneled").glob("*/*.jpg"))
    step = max(1, len(paths) // count)
    return [
        cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        for path in paths[::step][:count]
    ]


def reference_detector() -> Callable[[np.ndarray], list[Detections]]:
    """facenet-pytorch's MTCNN with our defaults, as a function of an ``N x H x W x 3`` batch."""
    sys.path.insert(0, str(REFERENCE))
    try:
        from facenet_pytorch import MTCNN
    except ImportError as error:
        raise SystemExit(f"facenet_pytorch is not in {REFERENCE}: run `make install` ({error})") from None
    options = MTCNNOptions()
    mtcnn = MTCNN(
        keep_all=True,
        device="cpu",
        min_face_size=options.min_face_size,
        thresholds=list(options.score_threshold),
        factor=options.scale_factor,
    )

    def detect(batch: np.ndarray) -> list[Detections]:
        boxes, _, points = mtcnn.detect(batch, landmarks=True)
        return [
            (np.zeros((0, 4)), np.zeros((0, 5, 2))) if found is None else (found.astype(np.float64), marks)
            for found, marks in zip(boxes, points, strict=True)
        ]

    return detect


def our_detector() -> Callable[[np.ndarray], list[Detections]]:
    detector = MTCNNDetector(MTCNNOptions(), Runtime.local("cpu"))

    def detect(batch: np.ndarray) -> list[Detections]:
        faces = detector.detect(list(batch))
        return [
            (
                np.array([face.box for face in found]).reshape(-1, 4),
                np.array([face.landmarks for face in found]).reshape(-1, 5, 2),
            )
            for found in faces
        ]

    return detect


def run(detect: Callable[[np.ndarray], list[Detections]], batches: Sequence[np.ndarray]) -> list[Detections]:
    return [found for batch in batches for found in detect(batch)]


def best_ms_per_image(
    detect: Callable[[np.ndarray], list[Detections]], batches: Sequence[np.ndarray], repeats: int
) -> float:
    detect(batches[0])  # warm-up: allocator, oneDNN primitives
    images = sum(len(batch) for batch in batches)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(detect, batches)
        times.append(time.perf_counter() - start)
    return min(times) * 1000 / images


def disagreement(
    ours: list[Detections], theirs: list[Detections], shapes: Sequence[tuple[int, ...]]
) -> tuple[int, np.ndarray, np.ndarray]:
    """Images whose face counts differ, and per matched face the worst box and landmark error (px).

    facenet's box is made ours (``- [1, 1, 0, 0]``, clipped to the image); each of our faces is
    matched to the facenet face whose box is nearest.
    """
    count_mismatches = 0
    box_errors, mark_errors = [], []
    for (boxes, marks), (ref_boxes, ref_marks), shape in zip(ours, theirs, shapes, strict=True):
        if len(boxes) != len(ref_boxes):
            count_mismatches += 1
            continue
        height, width = shape[:2]
        ref_boxes = np.clip(ref_boxes - [1, 1, 0, 0], 0, [width, height, width, height])
        for box, points in zip(boxes, marks, strict=True):
            errors = np.abs(ref_boxes - box).max(axis=1)
            nearest = int(np.argmin(errors))
            box_errors.append(errors[nearest])
            mark_errors.append(np.abs(ref_marks[nearest] - points).max())
    return count_mismatches, np.array(box_errors), np.array(mark_errors)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    cpu = cpu_info()
    print(f"CPU: {cpu.name} ({cpu.cores} cores usable; {cpu.instruction_sets}); torch {torch.__version__}")
    images = lfw_images(args.images)
    by_shape: dict[tuple[int, ...], list[np.ndarray]] = {}
    for image in images:
        by_shape.setdefault(image.shape, []).append(image)
    batches = [
        np.stack(same[start : start + args.batch])
        for same in by_shape.values()
        for start in range(0, len(same), args.batch)
    ]
    shapes = [image.shape for batch in batches for image in batch]
    reference, ours = reference_detector(), our_detector()
    print(f"{len(images)} LFW images in {len(batches)} batches of up to {args.batch}")

    torch.set_num_threads(1)
    found = run(ours, batches)
    alone = run(reference, [image[None] for batch in batches for image in batch])
    for label, theirs in (
        ("facenet one image at a time", alone),
        ("facenet in batches", run(reference, batches)),
    ):
        mismatches, box_errors, mark_errors = disagreement(found, theirs, shapes)
        print(
            f"agreement with {label}: {mismatches} of {len(images)} images with another face count; "
            f"over {len(box_errors)} faces box error median {np.median(box_errors):.3f} px, "
            f"max {box_errors.max():.3f} px; landmarks median {np.median(mark_errors):.3f} px, "
            f"max {mark_errors.max():.3f} px"
        )
    for threads in args.threads:
        torch.set_num_threads(threads)
        theirs_ms = best_ms_per_image(reference, batches, args.repeats)
        ours_ms = best_ms_per_image(ours, batches, args.repeats)
        print(
            f"{threads} thread(s): facenet-pytorch {theirs_ms:.1f} ms/image, ours {ours_ms:.1f} ms/image, "
            f"speed-up {theirs_ms / ours_ms:.2f}x"
        )


if __name__ == "__main__":
    main()
