"""Hostile data files, third round: a hard link out of the data set, impossible paths in a
protocol, malformed insightface ``.bin`` pickles, and images that only Pillow reads or that make
libjpeg warn. Each is a clear error naming the file, or a counted failure; no file's bytes are
echoed, nothing is allocated on a file's say-so, and nothing is printed to stderr unattributed."""

from __future__ import annotations

import logging
import os
import pickle
import struct
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from bench.data import ImageDecodeError, ProtocolError, decode_image, load_dataset
from bench.data.bin_set import BinFormatError, read_bin
from bench.pipeline import BenchmarkRunner, ImageStatus
from bench.tracking.artifacts import write_failures

from . import corpus
from .conftest import LFW_SAMPLES, bench_config
from .test_csv_pairs import pairs_config, write

LIMIT = 50_000_000
#: A file outside the data set; no window of 8 of its bytes may show up anywhere.
SECRET = b"TOP-SECRET-BYTES-3e9a1f-0b7d\n"


# -- 11: a hard link to a file outside the root ------------------------------------------------


def test_a_hard_link_out_of_the_root_never_shows_the_files_bytes(tmp_path: Path) -> None:
    outside = tmp_path / "outside" / "secret.txt"
    outside.parent.mkdir()
    outside.write_bytes(SECRET)
    root = tmp_path / "images"
    root.mkdir()
    os.link(outside, root / "pw.jpg")  # one inode, two names: nothing tells which is "outside"
    with pytest.raises(ImageDecodeError) as error:
        decode_image(root / "pw.jpg", root, LIMIT)
    assert (
        str(error.value) == f"{root / 'pw.jpg'}: not an image: starts with bytes that no supported format has"
    )
    assert not any(SECRET[i : i + 8].decode() in str(error.value) for i in range(len(SECRET) - 8))


def test_a_file_of_a_known_kind_is_named_by_its_kind_not_its_bytes(tmp_path: Path) -> None:
    path = tmp_path / "scan.jpg"
    Image.fromarray(corpus.pattern(40, 30)).save(path, "PCX")  # Pillow reads its header only
    with pytest.raises(ImageDecodeError) as error:
        decode_image(path, tmp_path, LIMIT)
    assert str(error.value) == f"{path}: not decodable: a PCX image, a format this benchmark does not read"


# -- 12: impossible paths in a protocol ------------------------------------------------------------


def _folder_of_five(root: Path, folder: str) -> list[str]:
    """Five empty files in one folder: more than a few, so their folder is listed, not stat-ed."""
    (root / folder).mkdir(parents=True)
    for i in range(5):
        (root / folder / f"{i}.jpg").touch()
    return [f"{folder}/{i}.jpg" for i in range(5)]


def test_a_nul_byte_in_a_csv_path_names_file_line_and_column(tmp_path: Path) -> None:
    root = tmp_path / "images"
    names = _folder_of_five(root, "p")
    rows = [f"{name},b\x00d/{i}.jpg,{1 - i % 2}" for i, name in enumerate(names)]  # five in one folder
    protocol = write(tmp_path / "pairs.csv", "path_a,path_b,label\n" + "\n".join(rows) + "\n")
    with pytest.raises(ProtocolError) as error:
        load_dataset(pairs_config(root, protocol, "dataset.num_folds=2").dataset)
    assert str(error.value) == (
        f"{protocol}:2: path_b holds a NUL byte, which no file name can hold: 'b\\x00d/0.jpg'"
    )


def test_a_nul_byte_in_an_lfw_name_names_file_and_line(tmp_path: Path) -> None:
    root = tmp_path / "images"
    _folder_of_five(root, "C")
    same = [f"A\x00b\t{i}\t{i + 1}" for i in range(1, 4)]
    different = [f"A\x00b\t{i}\tC\t1" for i in range(3, 6)]
    protocol = write(tmp_path / "pairs.txt", "1\t3\n" + "\n".join(same + different) + "\n")
    config = bench_config("dataset=lfw", f"dataset.images_path='{root}'", f"dataset.pairs_path='{protocol}'")
    with pytest.raises(ProtocolError) as error:
        load_dataset(config.dataset)
    assert str(error.value) == (
        f"{protocol}:2: the image path holds a NUL byte, which no file name can hold: "
        "'A\\x00b/A\\x00b_0001.jpg'"
    )


# -- 16: malformed insightface .bin files ----------------------------------------------------------

JPEG = b"\xff\xd8\xff"


def _bin(tmp_path: Path, content: bytes) -> Path:
    path = tmp_path / "set.bin"
    path.write_bytes(content)
    return path


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (
            pickle.dumps(([JPEG] * 4, [[True], [False, True]])),
            "the flags must be a list of booleans, one a pair: flag 0 is a list",
        ),
        (
            pickle.dumps(([JPEG] * 2, [True, 2])),
            "the flags must be a list of booleans, one a pair: flag 1 is 2",
        ),
        (pickle.dumps((5, [True])), "the images must be a list of encoded images, got int"),
        (pickle.dumps(([JPEG] * 2, "1")), "the flags must be a list of booleans, one a pair, got str"),
    ],
    ids=["ragged-flags", "flag-not-boolean", "images-not-a-list", "flags-not-a-list"],
)
def test_a_malformed_structure_names_the_file_and_what_is_wrong(
    tmp_path: Path, content: bytes, problem: str
) -> None:
    path = _bin(tmp_path, content)
    with pytest.raises(BinFormatError) as error:
        read_bin(path)
    assert str(error.value) == f"{path}: {problem}"


@pytest.mark.parametrize(
    ("content", "offset", "declared", "remaining"),
    [
        (b"\x80\x04\x8e" + struct.pack("<Q", 2**40) + b"abc", 2, 2**40, 3),  # BINBYTES8
        (b"\x80\x04\x95" + struct.pack("<Q", 2**40) + b"abc", 2, 2**40, 3),  # FRAME
        (b"\x80\x04\x8d" + struct.pack("<Q", 2**33) + b"abc.", 2, 2**33, 4),  # BINUNICODE8
        (b"\x80\x02\x8b" + struct.pack("<i", 2**31 - 1) + b"abc.", 2, 2**31 - 1, 4),  # LONG4
    ],
    ids=["BINBYTES8", "FRAME", "BINUNICODE8", "LONG4"],
)
def test_a_size_beyond_the_end_of_the_file_is_refused_before_allocating(
    tmp_path: Path, content: bytes, offset: int, declared: int, remaining: int
) -> None:
    path = _bin(tmp_path, content)
    with pytest.raises(BinFormatError) as error:
        read_bin(path)
    assert str(error.value) == (
        f"{path}: not an insightface .bin (a pickle of images and flags): the opcode at byte {offset} "
        f"needs {declared} bytes, but only {remaining} remain in the file"
    )


def test_a_memo_index_beyond_the_objects_made_is_refused(tmp_path: Path) -> None:
    # The unpickler would grow its memo to twice the index first: 64 GB of pointers.
    path = _bin(tmp_path, b"\x80\x02N\x72" + struct.pack("<I", 2**32 - 1) + b".")
    with pytest.raises(BinFormatError) as error:
        read_bin(path)
    assert str(error.value) == (
        f"{path}: not an insightface .bin (a pickle of images and flags): the opcode at byte 3 stores "
        f"memo entry {2**32 - 1}, but only 2 opcodes precede it"
    )


def _numpy_bin_content(protocol: int) -> tuple[bytes, list[bytes], list[bool]]:
    images = [JPEG + b" a", JPEG + b" b", JPEG + b" c", JPEG + b" d"]
    flags = [True, False]
    arrays = [np.frombuffer(image, dtype=np.uint8) for image in images]
    return pickle.dumps((arrays, np.array(flags)), protocol=protocol), images, flags


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_numpy_arrays_read_in_every_protocol(tmp_path: Path, protocol: int) -> None:
    content, images, flags = _numpy_bin_content(protocol)
    read = read_bin(_bin(tmp_path, content))
    assert read.images == images
    assert read.same.tolist() == flags


def test_numpy_1s_spelling_of_its_globals_reads(tmp_path: Path) -> None:
    content, images, flags = _numpy_bin_content(2)
    assert b"numpy._core.multiarray\n" in content  # protocol 2 names globals as text lines
    older = content.replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")
    read = read_bin(_bin(tmp_path, older))
    assert read.images == images and read.same.tolist() == flags


#: ``2**40`` as pickle's LONG1 opcode: a one-element tuple's worth of shape for 1 TB.
_HUGE = b"\x8a\x06" + (2**40).to_bytes(6, "little")


@pytest.mark.parametrize(
    ("content", "refused"),
    [
        # numpy's globals called with what numpy never pickles (the first two would allocate 1 TB).
        (
            b"\x80\x02cnumpy._core.multiarray\n_reconstruct\ncnumpy\nndarray\n" + _HUGE + b"\x85C\x01b\x87R.",
            "numpy's _reconstruct with shape (1099511627776,): numpy pickles an array as shape (0,)",
        ),
        (
            b"\x80\x02cnumpy\nndarray\n" + _HUGE + b"\x85\x85R.",
            "numpy.ndarray called: it is only _reconstruct's argument",
        ),
        (
            b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00aX\x04\x00\x00\x00zlib\x86R.",
            "_codecs.encode to 'zlib': protocol 2 encodes bytes as latin1 text only",
        ),
        (
            b"\x80\x02cnumpy\ndtype\nX\x02\x00\x00\x00V9\x85R.",
            "numpy.dtype('V9'): the format holds booleans, numbers and objects only",
        ),
    ],
    ids=["reconstruct-shape", "ndarray-called", "codec", "dtype"],
)
def test_numpy_globals_admit_only_what_numpy_pickles(tmp_path: Path, content: bytes, refused: str) -> None:
    path = _bin(tmp_path, content)
    with pytest.raises(BinFormatError) as error:
        read_bin(path)
    assert str(error.value) == f"{path}: not an insightface .bin (a pickle of images and flags): {refused}"


# -- 18: images only Pillow reads, and libjpeg's warnings ------------------------------------------


@pytest.mark.parametrize(("kind", "name"), [("ICO", "face.ico"), ("TGA", "face.tga")])
def test_ico_and_tga_are_read(tmp_path: Path, kind: str, name: str) -> None:
    picture = corpus.pattern(64, 64)
    path = tmp_path / name
    Image.fromarray(picture).save(path, kind)
    np.testing.assert_array_equal(decode_image(path, tmp_path, LIMIT), picture)


def test_an_rgba_tga_drops_alpha_like_every_other_format(tmp_path: Path) -> None:
    picture = corpus.pattern(30, 40)
    rgba = np.dstack([picture, np.zeros((30, 40), np.uint8)])
    path = tmp_path / "face.tga"
    Image.fromarray(rgba).save(path, "TGA")
    np.testing.assert_array_equal(decode_image(path, tmp_path, LIMIT), picture)


def test_a_tga_not_named_tga_is_refused_with_the_remedy(tmp_path: Path) -> None:
    # TGA has no signature: Pillow guesses it from header fields any file may hold.
    path = tmp_path / "face.jpg"
    Image.fromarray(corpus.pattern(32, 32)).save(path, "TGA")
    with pytest.raises(ImageDecodeError) as error:
        decode_image(path, tmp_path, LIMIT)
    assert str(error.value) == (
        f"{path}: read as TGA only when named .tga (TGA has no signature to recognise it by): "
        "rename it if it is one"
    )


def _with_extraneous_bytes(photo: bytes) -> bytes:
    """``photo`` with four junk bytes after its first segment: libjpeg skips them and warns."""
    end = 4 + struct.unpack(">H", photo[4:6])[0]
    return photo[:end] + b"junk" + photo[end:]


def test_a_libjpeg_warning_that_leaves_pixels_intact_is_logged_against_the_file(
    tmp_path: Path, lfw_root: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    photo = (lfw_root / LFW_SAMPLES[0]).read_bytes()
    path = tmp_path / "extra.jpg"
    path.write_bytes(_with_extraneous_bytes(photo))
    with caplog.at_level(logging.WARNING, logger="bench.data"):
        image = decode_image(path, tmp_path, LIMIT)
    expected = cv2.imdecode(np.frombuffer(photo, np.uint8), cv2.IMREAD_COLOR_RGB)
    np.testing.assert_array_equal(image, expected)
    assert capfd.readouterr().err == ""
    assert [record.getMessage() for record in caplog.records] == [
        f"{path}: libjpeg warns: Corrupt JPEG data: 4 extraneous bytes before marker 0xdb "
        "(the pixels are intact)"
    ]


def test_a_libjpeg_warning_that_invents_pixels_is_a_failure(
    tmp_path: Path, lfw_root: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    # Cut mid-scan and given an end marker: libjpeg would fill the rest of the picture with grey.
    photo = (lfw_root / LFW_SAMPLES[0]).read_bytes()
    path = tmp_path / "cut.jpg"
    path.write_bytes(photo[: len(photo) * 2 // 3] + b"\xff\xd9")
    with pytest.raises(ImageDecodeError) as error:
        decode_image(path, tmp_path, LIMIT)
    assert str(error.value) == (
        f"{path}: not a decodable image: corrupt JPEG data (libjpeg: Corrupt JPEG data: premature end "
        "of data segment)"
    )
    assert capfd.readouterr().err == ""


def test_clean_jpegs_decode_as_before_without_a_word(
    tmp_path: Path, lfw_root: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    for make in (corpus.greyscale_jpeg, corpus.cmyk_jpeg, corpus.jpeg_with_trailing_bytes, corpus.tiny_jpeg):
        decode_image(make(tmp_path), tmp_path, LIMIT)
    for name in LFW_SAMPLES:
        expected = cv2.imdecode(np.frombuffer((lfw_root / name).read_bytes(), np.uint8), cv2.IMREAD_COLOR_RGB)
        np.testing.assert_array_equal(decode_image(lfw_root / name, lfw_root, LIMIT), expected)
    assert capfd.readouterr().err == "" and not caplog.records


# -- a real run over all of them -------------------------------------------------------------------


def test_a_run_counts_each_and_shows_no_secret_and_no_raw_stderr(
    tmp_path: Path, lfw_root: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "images"
    root.mkdir()
    good = []
    for name in LFW_SAMPLES:
        good.append(name.replace("/", "_"))
        (root / good[-1]).write_bytes((lfw_root / name).read_bytes())
    photo = (lfw_root / LFW_SAMPLES[0]).read_bytes()
    (tmp_path / "secret.txt").write_bytes(SECRET)
    os.link(tmp_path / "secret.txt", root / "pw.jpg")
    (root / "extra.jpg").write_bytes(_with_extraneous_bytes(photo))
    (root / "cut.jpg").write_bytes(photo[: len(photo) * 2 // 3] + b"\xff\xd9")
    with Image.open(lfw_root / LFW_SAMPLES[1]) as face:
        face.save(root / "face.ico", "ICO", sizes=[face.size])
        face.save(root / "face.tga", "TGA")
    failing = {
        "pw.jpg": "not an image: starts with bytes that no supported format has",
        "cut.jpg": "not a decodable image: corrupt JPEG data (libjpeg: Corrupt JPEG data: premature end "
        "of data segment)",
    }
    decoded = ["extra.jpg", "face.ico", "face.tga", *good]
    names = [*failing, *decoded]
    rows = [(names[i], names[(i + 3) % len(names)], i % 2) for i in range(len(names))]
    config = pairs_config(
        root, corpus.pairs_csv(tmp_path / "pairs.csv", rows), "dataset.num_folds=2", "detector=yunet"
    )
    with caplog.at_level(logging.WARNING, logger="bench.data"), BenchmarkRunner(config) as runner:
        result = runner.run()

    records = corpus.records_by_path(result)
    corpus.assert_decode_errors(records, root, failing)
    assert all(records[name].status is ImageStatus.DETECTED for name in decoded), records
    assert result.metrics["num_failed_images"] == len(failing)
    write_failures(result, tmp_path / "failures.csv")
    artifacts = (tmp_path / "failures.csv").read_text() + caplog.text
    assert not any(SECRET[i : i + 8].decode() in artifacts for i in range(len(SECRET) - 8))
    assert f"{root / 'extra.jpg'}: libjpeg warns: Corrupt JPEG data: 4 extraneous bytes" in caplog.text
    assert "Corrupt JPEG" not in capfd.readouterr().err
