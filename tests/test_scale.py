"""``benchmarks/scale.py``'s protocols: distinct images made from LFW, and a pairs CSV the
benchmark runs (the timed runs themselves belong to the benchmark, not to a test)."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path
from types import ModuleType

import cv2
import numpy as np
import pytest

from bench.paths import project_root

from .conftest import load_script


@pytest.fixture(scope="module")
def scale() -> ModuleType:
    return load_script(project_root() / "benchmarks" / "scale.py")


def test_every_copy_of_a_photo_differs_from_the_photo_and_from_every_other_copy(
    scale: ModuleType, lfw_root: Path, tmp_path: Path
) -> None:
    assert len(set(scale.CHANGES)) == len(scale.CHANGES)
    photo = next(lfw_root.glob("*/*.jpg"))
    contents = {hashlib.sha256(cv2.imread(str(photo)).tobytes()).hexdigest()}
    for copy in range(1, len(scale.CHANGES) + 1, 37):
        target = tmp_path / f"{copy}.jpg"
        scale.derived_image(photo, target, copy)
        image = cv2.imread(str(target))
        assert image.shape == (250, 250, 3)
        contents.add(hashlib.sha256(image.tobytes()).hexdigest())
    assert len(contents) == 1 + len(range(1, len(scale.CHANGES) + 1, 37))


def test_a_protocol_pairs_consecutive_images_by_person(scale: ModuleType, tmp_path: Path) -> None:
    protocol = scale.make_protocol(tmp_path, 20, workers=1)
    with protocol.open(newline="") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 10
    images = [row[side] for row in rows for side in ("path_a", "path_b")]
    assert len(set(images)) == 20 and all((tmp_path / image).is_file() for image in images)
    for row in rows:
        same = Path(row["path_a"]).parent == Path(row["path_b"]).parent
        assert row["label"] == str(int(same))
    assert np.unique([row["label"] for row in rows]).size == 2  # both labels, or no fold has a threshold
    assert scale.make_protocol(tmp_path, 20) == protocol  # a complete protocol is reused
