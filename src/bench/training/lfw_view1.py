"""LFW's View 1 as a training set and a validation set with no identity in common.

    python -m bench.training.lfw_view1 OUT [detector=yunet]

Every image of ``peopleDevTrain.txt`` (4,038 people, 9,525 images) is detected, aligned to the
112x112 template by the benchmark's aligner and written losslessly to ``OUT/train/<name>/``
(an image folder for ``data=folder``); the 1,000 pairs of ``pairsDevTest.txt`` (other people)
become ``OUT/pairsDevTest.bin`` in insightface's format (for ``validation=[...]``), same-person
and different-people pairs alternating. An image
without a face is aligned from its centre crop, as the benchmark's default failure policy
does, and counted.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from bench.alignment import align_face
from bench.assets import resolve
from bench.config import FailurePolicy, Selection
from bench.data import decode_image, parse_lfw_pairs
from bench.data.bin_set import write_bin
from bench.data.pairs import lfw_image_path
from bench.detectors import create_detector
from bench.pipeline.face_choice import FaceChooser
from bench.pipeline.records import ImageRecord

#: The benchmark's default fallback crop (``fallback_crop_fraction``).
FALLBACK_FRACTION = 0.5


def dev_train_people() -> list[tuple[str, int]]:
    """``(name, number of images)`` of View 1's training people."""
    lines = resolve("lfw_people_dev_train").read_text().splitlines()[1:]
    return [(name, int(count)) for name, count in (line.split("\t") for line in lines if line.strip())]


class Aligner:
    """Detect, select and align one LFW image as a benchmark run with its default selection and
    failure policy does (``FaceChooser``); counts the images aligned from a centre crop."""

    def __init__(self, detector: str) -> None:
        self.detector = create_detector(detector)
        self.chooser = FaceChooser(
            detector, Selection.center_weighted, FailurePolicy.center_crop, FALLBACK_FRACTION
        )
        self.root = resolve("lfw_deepfunneled")
        self.fallbacks = 0

    def __call__(self, relative: str) -> np.ndarray:
        image = decode_image(self.root / relative, self.root, 50_000_000)
        record = ImageRecord(relative)
        face = self.chooser.choose(record, image.shape[:2], self.detector.detect([image])[0])
        assert face is not None  # the centre-crop policy always gives one
        self.fallbacks += record.fallback
        return align_face(image, face)


def prepare(out: Path, detector: str = "yunet") -> tuple[int, int, int]:
    """Write the training folder and the validation ``.bin``; returns (train images, test pairs,
    centre-crop fallbacks)."""
    aligner = Aligner(detector)
    count = 0
    for name, images in dev_train_people():
        folder = out / "train" / name
        folder.mkdir(parents=True, exist_ok=True)
        for number in range(1, images + 1):
            face = aligner(lfw_image_path(name, number))
            cv2.imwrite(str(folder / f"{name}_{number:04d}.png"), cv2.cvtColor(face, cv2.COLOR_RGB2BGR))
            count += 1
    # pairsDevTest lists its 500 same-person pairs, then its 500 others; a .bin is scored in
    # unshuffled folds, so the pairs alternate to give every fold both labels.
    listed = parse_lfw_pairs(resolve("lfw_pairs_dev_test"))
    same, different = [p for p in listed if p.same], [p for p in listed if not p.same]
    pairs = [pair for couple in zip(same, different, strict=True) for pair in couple]
    encoded = {}
    for pair in pairs:
        for path in (pair.image_a, pair.image_b):
            if path not in encoded:
                bgr = cv2.cvtColor(aligner(path), cv2.COLOR_RGB2BGR)
                encoded[path] = cv2.imencode(".png", bgr)[1].tobytes()
    faces = [encoded[path] for pair in pairs for path in (pair.image_a, pair.image_b)]
    write_bin(out / "pairsDevTest.bin", faces, [pair.same for pair in pairs])
    aligner.detector.close()
    return count, len(pairs), aligner.fallbacks


def main(argv: Sequence[str] | None = None) -> None:
    arguments = list(sys.argv[1:] if argv is None else argv)
    detector = next((a.partition("=")[2] for a in arguments if a.startswith("detector=")), "yunet")
    places = [a for a in arguments if "=" not in a]
    if len(places) != 1:
        raise SystemExit("usage: python -m bench.training.lfw_view1 OUT [detector=yunet]")
    images, pairs, fallbacks = prepare(Path(places[0]), detector)
    print(f"{places[0]}: {images} training faces, {pairs} test pairs, {fallbacks} aligned from a centre crop")


if __name__ == "__main__":
    main()
