"""``bench verify``: two photos, one decision, at the threshold a benchmark run measured."""

from __future__ import annotations

import os
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from bench.verify import main
from tests.cli import run_bench

SAME = ("George_W_Bush/George_W_Bush_0001.jpg", "George_W_Bush/George_W_Bush_0002.jpg")
DIFFERENT = ("George_W_Bush/George_W_Bush_0001.jpg", "Colin_Powell/Colin_Powell_0001.jpg")


def test_the_threshold_comes_from_the_stores_lfw_run(
    lfw_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    finished = run_bench("dataset.folds=[0]", "dataset.pairs_per_fold=40", env=dict(os.environ))
    assert finished.returncode == 0, finished.stderr[-2000:]
    run_id = re.search(r"MLflow run ([0-9a-f]{32})", finished.stderr + finished.stdout).group(1)

    main([str(lfw_root / photo) for photo in SAME])
    same = capsys.readouterr().out
    assert f"run {run_id} (40 pairs of lfw)" in same
    assert same.rstrip().endswith("the same person")

    main([str(lfw_root / photo) for photo in DIFFERENT])
    assert capsys.readouterr().out.rstrip().endswith("different people")


def test_a_given_threshold_needs_no_store(lfw_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main([str(lfw_root / photo) for photo in SAME] + ["threshold=1.0"])
    out = capsys.readouterr().out
    cosine = float(re.search(r"cosine (\S+),", out).group(1))
    assert 0.3 < cosine < 1.0
    assert "threshold 1.0000 (given): different people" in out


def test_another_family_is_aligned_and_scored_its_own_way(
    lfw_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """dlib's network: its 150x150 chip, and minus the Euclidean distance against its threshold."""
    main([str(lfw_root / photo) for photo in SAME] + ["model=dlib_resnet34", "threshold=-0.6"])
    out = capsys.readouterr().out
    distance = -float(re.search(r"minus the Euclidean distance (\S+),", out).group(1))
    assert 0.0 < distance < 0.6 and out.rstrip().endswith("the same person")


def test_without_a_run_it_says_what_to_run(lfw_root: Path) -> None:
    with pytest.raises(
        SystemExit,
        match=r"no finished lfw run of model=edgeface_xs_gamma_06 detector=mtcnn.*"
        r"run `python -m bench model=edgeface_xs_gamma_06 detector=mtcnn` first",
    ):
        main([str(lfw_root / photo) for photo in SAME] + ["detector=mtcnn"])


def test_a_photo_without_a_face_is_an_error(lfw_root: Path, tmp_path: Path) -> None:
    blank = tmp_path / "wall.png"
    cv2.imwrite(str(blank), np.full((200, 200, 3), 128, np.uint8))
    with pytest.raises(SystemExit, match=f"{blank}: detector=yunet found no face"):
        main([str(lfw_root / SAME[0]), str(blank), "threshold=0.3"])


def test_two_photos_are_needed() -> None:
    with pytest.raises(SystemExit, match=r"usage: bench verify A\.jpg B\.jpg"):
        main(["a.jpg"])
