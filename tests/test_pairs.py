"""Parsing LFW's pair protocol files."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from bench.assets import resolve
from bench.data import Pair, ProtocolError, parse_lfw_pairs, select_pairs


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
