"""``dataset=bin``: insightface's ``.bin`` validation sets, read safely and scored like the folder."""

from __future__ import annotations

import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
from omegaconf.errors import OmegaConfBaseException

from bench.assets import resolve
from bench.data import load_dataset, parse_lfw_pairs, select_pairs
from bench.data.bin_set import BinFormatError, read_bin, unpack_bin, write_bin
from tests.conftest import bench_config, run_benchmark

PAIRS_PER_FOLD = 10


def lfw_aligned_bin(path: Path) -> Path:
    """The reference-aligned LFW's first 5 same and 5 different pairs of each official fold, as
    insightface writes a ``.bin``: the JPEG bytes of both faces of every pair, in order."""
    root = resolve("lfw_aligned_112")
    pairs = select_pairs(parse_lfw_pairs(resolve("lfw_pairs")), None, PAIRS_PER_FOLD)
    images = [(root / name).read_bytes() for pair in pairs for name in (pair.image_a, pair.image_b)]
    write_bin(path, images, [pair.same for pair in pairs])
    return path


def python2_pickle(images: list[bytes], same: list[bool]) -> bytes:
    """The pickle Python 2 wrote for ``(images, same)``: images as ``str`` (BINSTRING opcodes),
    which Python 3 reads as bytes only with ``encoding="bytes"``."""
    body = b"".join(b"T" + struct.pack("<I", len(image)) + image for image in images)
    flags = b"".join(b"\x88" if flag else b"\x89" for flag in same)
    return b"\x80\x02](" + body + b"e](" + flags + b"e\x86."


def test_bin_scores_exactly_like_the_aligned_folder(tmp_path: Path) -> None:
    path = lfw_aligned_bin(tmp_path / "lfw.bin")
    folder = run_benchmark("detector=none", "dataset=lfw_aligned", f"dataset.pairs_per_fold={PAIRS_PER_FOLD}")
    from_bin = run_benchmark("detector=none", "dataset=bin", f"dataset.path={path}")

    assert from_bin.verification.num_pairs == folder.verification.num_pairs == 10 * PAIRS_PER_FOLD
    assert from_bin.verification.fold_accuracies == folder.verification.fold_accuracies
    assert from_bin.metrics["accuracy"] == folder.metrics["accuracy"]
    assert from_bin.metrics["auc"] == folder.metrics["auc"]


def test_folds_are_insightfaces_unshuffled_kfold(tmp_path: Path) -> None:
    path = lfw_aligned_bin(tmp_path / "lfw.bin")
    lfw = select_pairs(parse_lfw_pairs(resolve("lfw_pairs")), None, PAIRS_PER_FOLD)
    _, pairs = unpack_bin(path)
    assert [(p.same, p.fold) for p in pairs] == [(p.same, p.fold) for p in lfw]


def test_each_distinct_image_is_unpacked_once(tmp_path: Path) -> None:
    image_a, image_b = (
        resolve("lfw_aligned_112") / "Aaron_Peirsol" / f"Aaron_Peirsol_000{n}.jpg" for n in (1, 3)
    )
    images = [image_a.read_bytes(), image_b.read_bytes()] * 10  # the same pair, 10 times
    path = tmp_path / "repeats.bin"
    write_bin(path, images, [True, False] * 5)
    folder, pairs = unpack_bin(path)
    assert sorted(os.listdir(folder)) == ["000000.jpg", "000001.jpg"]
    assert {(p.image_a, p.image_b) for p in pairs} == {("000000.jpg", "000001.jpg")}
    assert (folder / "000001.jpg").read_bytes() == images[1]
    assert unpack_bin(path)[0] == folder  # made once, then found


def test_a_python2_bin_reads(tmp_path: Path) -> None:
    images = [b"\xff\xd8\xff first", b"\x89PNG second"]
    path = tmp_path / "old.bin"
    path.write_bytes(python2_pickle(images, [True]))
    content = read_bin(path)
    assert content.images == images
    assert content.same.tolist() == [True]


def test_numpy_flags_and_image_arrays_read(tmp_path: Path) -> None:
    images = [
        np.frombuffer(b"\xff\xd8\xff a", dtype=np.uint8),
        np.frombuffer(b"\xff\xd8\xff b", dtype=np.uint8),
    ]
    path = tmp_path / "numpy.bin"
    path.write_bytes(pickle.dumps((images, np.array([False]))))
    content = read_bin(path)
    assert content.images == [b"\xff\xd8\xff a", b"\xff\xd8\xff b"]
    assert content.same.tolist() == [False]


class _RunsCode:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("touch pwned",))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (pickle.dumps(_RunsCode()), r"refers to posix\.system, which the format never holds"),
        (b"not a pickle", "not an insightface .bin"),
        (pickle.dumps({"images": []}), "expected a pickled \\(images, same_flags\\) pair, got dict"),
        (pickle.dumps(([b"\xff\xd8\xff"] * 3, [True, False])), "3 images for 2 pairs"),
        (pickle.dumps(([b"\xff\xd8\xff", 7], [True])), "image 1 is a int, not encoded image bytes"),
        (pickle.dumps(([b"\xff\xd8\xff"] * 2, ["yes"])), "the flags must be a list of booleans"),
    ],
)
def test_a_bad_bin_is_refused_with_its_reason(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.bin"
    path.write_bytes(content)
    with pytest.raises(BinFormatError, match=message):
        read_bin(path)
    assert not (tmp_path / "pwned").exists()


def test_an_image_of_another_format_is_named(tmp_path: Path) -> None:
    path = tmp_path / "gif.bin"
    write_bin(path, [b"\xff\xd8\xff"] * 19 + [b"GIF89a"], [True, False] * 5)
    with pytest.raises(BinFormatError, match="image 19 is neither JPEG nor PNG"):
        unpack_bin(path)


def test_fewer_pairs_than_folds_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "small.bin"
    write_bin(path, [b"\xff\xd8\xff"] * 8, [True, False] * 2)
    with pytest.raises(BinFormatError, match="4 pairs cannot be split into insightface's 10 folds"):
        unpack_bin(path)


def test_the_run_is_named_after_the_file_and_a_missing_file_is_named(tmp_path: Path) -> None:
    config = bench_config("detector=none", "dataset=bin", f"dataset.path={tmp_path}/cfp_fp.bin")
    assert config.dataset.name == "cfp_fp"
    assert config.dataset.aligned
    with pytest.raises(FileNotFoundError, match=f"dataset.path: {tmp_path}/cfp_fp.bin is not a file"):
        load_dataset(config.dataset)


def test_a_path_is_required() -> None:
    with pytest.raises(OmegaConfBaseException, match=r"Missing mandatory value: dataset\.path"):
        bench_config("dataset=bin")
