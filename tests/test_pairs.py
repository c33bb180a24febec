"""Parsing LFW's pair protocol files."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bench.assets import resolve
from bench.config import LfwDatasetConfig, OnMissing
from bench.data import (
    Pair,
    PairDataset,
    ProtocolError,
    load_dataset,
    missing_files,
    parse_lfw_pairs,
    select_pairs,
)


@pytest.fixture(scope="module")
def pairs() -> list[Pair]:
    return parse_lfw_pairs(resolve("lfw_pairs"))


def test_view2_has_ten_folds_of_300_same_and_300_different(pairs: list[Pair]) -> None:
    assert len(pairs) == 6000
    assert Counter((pair.fold, pair.same) for pair in pairs) == {
        (fold, same): 300 for fold in range(10) for same in (True, False)
    }
    # Each fold is 300 same-person lines then 300 different-people lines.
    assert [pair.same for pair in pairs[:600]] == [True] * 300 + [False] * 300


def test_both_line_formats(pairs: list[Pair]) -> None:
    assert pairs[0] == Pair(
        "Abel_Pacheco/Abel_Pacheco_0001.jpg", "Abel_Pacheco/Abel_Pacheco_0004.jpg", True, 0
    )
    assert pairs[300] == Pair(
        "Abdel_Madi_Shabneh/Abdel_Madi_Shabneh_0001.jpg", "Dean_Barker/Dean_Barker_0001.jpg", False, 0
    )
    # Each pair knows its line (the header is line 1), for error messages.
    assert (pairs[0].line, pairs[300].line, pairs[-1].line) == (2, 302, 6001)


def test_every_image_exists(pairs: list[Pair]) -> None:
    root = resolve("lfw_deepfunneled")
    images = {path for pair in pairs for path in (pair.image_a, pair.image_b)}
    assert len(images) == 7701
    assert all((root / path).is_file() for path in images)


def test_view1_single_number_header() -> None:
    view1 = parse_lfw_pairs(resolve("lfw_pairs").parent / "pairsDevTest.txt")
    assert len(view1) == 1000 and {pair.fold for pair in view1} == {0}


def test_fold_and_size_subsets(pairs: list[Pair]) -> None:
    assert {pair.fold for pair in select_pairs(pairs, [2, 5], None)} == {2, 5}
    small = select_pairs(pairs, [0, 1], 10)
    assert Counter((pair.fold, pair.same) for pair in small) == {
        (fold, same): 5 for fold in (0, 1) for same in (True, False)
    }
    with pytest.raises(ValueError, match=r"folds \[10\] do not exist"):
        select_pairs(pairs, [10], None)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty pairs file"),
        ("ten\t1\n", ":1: header"),
        ("1\t1\nA\t1\t2\nB\t1\tC\t2\nD\t1\t2\n", "promises 1 folds x 2 pairs = 2 lines, found 3"),
        ("1\t1\nA\t1\nB\t1\tC\t2\n", ":2: expected 3 fields"),
        ("1\t1\nA\tx\t2\nB\t1\tC\t2\n", ":2: image numbers must be integers"),
        ("1\t1\nB\t1\tC\t2\nA\t1\t2\n", ":2: expected a same-person line"),
    ],
)
def test_malformed_files_name_file_and_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "pairs.txt"
    path.write_text(content)
    with pytest.raises(ProtocolError, match=message):
        parse_lfw_pairs(path)


def test_duplicate_pairs_are_all_reported_with_both_lines(tmp_path: Path) -> None:
    # Line 4 is line 2 reversed, in another fold; line 5 repeats line 3 exactly.
    path = tmp_path / "pairs.txt"
    path.write_text("2\t1\nA\t1\t2\nB\t1\tC\t2\nA\t2\t1\nB\t1\tC\t2\n")
    with pytest.raises(ProtocolError) as error:
        parse_lfw_pairs(path)
    assert str(error.value) == (
        f"{path}: 2 pair(s) repeat an earlier pair (the same two images, in either order):\n"
        f"  {path}:4: A/A_0002.jpg, A/A_0001.jpg repeats line 2\n"
        f"  {path}:5: B/B_0001.jpg, C/C_0002.jpg repeats line 3"
    )


def test_a_pair_of_one_image_with_itself(tmp_path: Path) -> None:
    path = tmp_path / "pairs.txt"
    path.write_text("1\t1\nA\t3\t3\nB\t1\tC\t2\n")
    with pytest.raises(ProtocolError) as error:
        parse_lfw_pairs(path)
    assert str(error.value) == f"{path}:2: the pair compares A/A_0003.jpg with itself"


def lfw_config(
    images: Path, pairs: Path, on_missing: OnMissing = OnMissing.error, **selection: Any
) -> LfwDatasetConfig:
    return LfwDatasetConfig(
        name="lfw",
        images="lfw_deepfunneled",
        images_path=str(images),
        pairs="lfw_pairs",
        pairs_path=str(pairs),
        on_missing=on_missing,
        **selection,
    )


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("3\t0\n", "no pairs to score"),
        (
            "1\t1\nA\t1\t2\nB\t1\tC\t2\n",
            "the pairs to score are one fold (fold 0) of 1 same-person and 1 different-people pair(s); "
            "one fold is cross-validated in stratified splits, which need at least 2 pairs of each label",
        ),
    ],
)
def test_a_pairs_file_that_cannot_be_scored_stops_before_any_image_is_read(
    tmp_path: Path, content: str, problem: str
) -> None:
    path = tmp_path / "pairs.txt"
    path.write_text(content)
    with pytest.raises(ProtocolError) as error:
        load_dataset(lfw_config(tmp_path, path))
    assert str(error.value).startswith(f"{path}: {problem}"), error.value


def test_one_pair_of_each_label_needs_a_second_fold_to_be_scored() -> None:
    images, protocol = resolve("lfw_deepfunneled"), resolve("lfw_pairs")
    with pytest.raises(ProtocolError, match=r"one fold \(fold 4\) of 1 same-person and 1 different-people"):
        load_dataset(lfw_config(images, protocol, folds=[4], pairs_per_fold=2))
    # Two folds of one pair each: each fold is scored at the other's threshold.
    dataset = load_dataset(lfw_config(images, protocol, folds=[4, 7], pairs_per_fold=2))
    assert Counter(zip(dataset.folds.tolist(), dataset.labels.tolist(), strict=True)) == {
        (fold, label): 1 for fold in (4, 7) for label in (0, 1)
    }


def test_missing_images_are_all_reported_before_any_work(tmp_path: Path) -> None:
    images = tmp_path / "images"
    (images / "A").mkdir(parents=True)
    (images / "A" / "A_0001.jpg").touch()
    path = tmp_path / "pairs.txt"
    path.write_text("1\t2\nA\t1\t2\nB\t1\t2\nA\t1\tB\t1\nC\t1\tD\t1\n")
    with pytest.raises(ProtocolError) as error:
        load_dataset(lfw_config(images, path))
    assert str(error.value) == (
        f"{path}: 5 missing image(s) under {images}, named by 4 pair(s) "
        "(dataset.on_missing=count runs the rest and counts them as failures):\n"
        f"  {path}:2: A/A_0002.jpg\n"
        f"  {path}:3: B/B_0001.jpg\n"
        f"  {path}:3: B/B_0002.jpg\n"
        f"  {path}:5: C/C_0001.jpg\n"
        f"  {path}:5: D/D_0001.jpg"
    )
    # on_missing=count keeps every pair; the runner counts the missing images as failures.
    dataset = load_dataset(lfw_config(images, path, OnMissing.count))
    assert isinstance(dataset, PairDataset) and len(dataset.pairs) == 4


def test_missing_image_listing_stops_at_twenty(tmp_path: Path) -> None:
    path = tmp_path / "pairs.txt"
    path.write_text(
        "1\t25\n"
        + "".join(f"P{i}\t1\t2\n" for i in range(25))
        + "".join(f"P{i}\t1\tQ{i}\t1\n" for i in range(25))
    )
    (tmp_path / "images").mkdir()
    with pytest.raises(ProtocolError) as error:
        load_dataset(lfw_config(tmp_path / "images", path))
    lines = str(error.value).splitlines()
    assert lines[0].startswith(
        f"{path}: 75 missing image(s) under {tmp_path / 'images'}, named by 50 pair(s)"
    )
    assert lines[1:3] == [f"  {path}:2: P0/P0_0001.jpg", f"  {path}:2: P0/P0_0002.jpg"]
    assert len(lines) == 22 and lines[-1] == "  ... and 55 more"


def test_checking_every_lfw_image_exists_is_fast(pairs: list[Pair]) -> None:
    root = resolve("lfw_deepfunneled")
    images = PairDataset("lfw", root, pairs).images
    seconds = []
    for _ in range(3):
        start = time.perf_counter()
        assert missing_files(root, images) == set()
        seconds.append(time.perf_counter() - start)
    assert min(seconds) < 0.5, seconds
    assert missing_files(root, ["Abel_Pacheco/Abel_Pacheco_0099.jpg", "Nobody/Nobody_0001.jpg"]) == {
        "Abel_Pacheco/Abel_Pacheco_0099.jpg",
        "Nobody/Nobody_0001.jpg",
    }
