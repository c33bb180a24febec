"""Hostile files in an image folder: header and decompression bombs, links out of the data set,
FIFOs and devices. Each is a counted failure naming the file; none stops, hangs or bloats a run,
and no byte of a file outside the dataset root is read."""

from __future__ import annotations

import io
import os
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.cache import bytes_digest
from bench.config import ConfigValueError
from bench.data import ImageDecodeError, decode_image, decode_image_bytes, read_image_bytes
from bench.pipeline import BenchmarkRunner, ImageStatus
from bench.tracking.artifacts import write_failures

from .conftest import LFW_SAMPLES, bench_config
from .corpus import assert_decode_errors, pairs_csv, records_by_path
from .test_csv_pairs import pairs_config

#: The run's pixel limit: the default, which every hostile size below exceeds.
LIMIT = 50_000_000
SECRET = b"TOP-SECRET-BYTES outside the data set"


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _png_header(width: int, height: int, colour_type: int) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(
        b"IHDR", struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    )


def pixel_bomb_png(side: int = 30_000) -> bytes:
    """A valid greyscale PNG of ``side x side`` black pixels, about 1 MB on disk: the zlib stream
    is one compressed run of rows repeated (each ends with a full flush, so it stands alone),
    and the Adler-32 of ``n`` zero bytes is ``(n % 65521) << 16 | 1``, so no test allocates the
    image to build it."""
    rows_per_block = 1000
    assert side % rows_per_block == 0
    raw_row = side + 1  # a filter byte, then the samples
    block = zlib.compressobj(9, zlib.DEFLATED, -15)
    repeated = block.compress(bytes(raw_row * rows_per_block)) + block.flush(zlib.Z_FULL_FLUSH)
    final = zlib.compressobj(9, zlib.DEFLATED, -15).flush(zlib.Z_FINISH)
    adler = ((raw_row * side) % 65521) << 16 | 1
    stream = b"\x78\xda" + repeated * (side // rows_per_block) + final + struct.pack(">I", adler)
    return _png_header(side, side, 0) + _png_chunk(b"IDAT", stream) + _png_chunk(b"IEND", b"")


def header_bomb_png(width: int = 40_000, height: int = 40_000) -> bytes:
    """A tiny RGB PNG whose header claims ``width x height`` pixels."""
    stream = zlib.compress(bytes(4 * 3 + 1))
    return _png_header(width, height, 2) + _png_chunk(b"IDAT", stream) + _png_chunk(b"IEND", b"")


def header_bomb_jpeg(photo: bytes, side: int = 60_000) -> bytes:
    """A real JPEG whose start-of-frame header claims ``side x side`` pixels."""
    frame = photo.index(b"\xff\xc0")  # baseline SOF0: length (2), precision (1), height, width
    return photo[: frame + 5] + struct.pack(">HH", side, side) + photo[frame + 9 :]


def _above_pillows_ceiling(pixels: int) -> str:
    """The reason for an image so large that Pillow will not read its header (its own message)."""
    return (
        f"above dataset.max_image_pixels={LIMIT}; Pillow: Image size ({pixels} pixels) exceeds limit "
        "of 178956970 pixels, could be decompression bomb DOS attack."
    )


def build_hostile_corpus(root: Path, outside: Path, lfw_root: Path) -> dict[str, str]:
    """Real LFW images under ``root`` plus one file of each hostile kind; returns each hostile
    file's name and the reason its failure must give (after ``root/name: ``)."""
    for name in LFW_SAMPLES:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(lfw_root / name, root / name)
    photo = (lfw_root / LFW_SAMPLES[0]).read_bytes()
    hostile = root / "hostile"
    hostile.mkdir()
    (hostile / "header_bomb.jpg").write_bytes(header_bomb_jpeg(photo))
    (hostile / "header_bomb.png").write_bytes(header_bomb_png())
    (hostile / "large_header.png").write_bytes(header_bomb_png(8000, 8000))  # under Pillow's ceiling
    (hostile / "pixel_bomb.png").write_bytes(pixel_bomb_png())
    outside.mkdir(exist_ok=True)
    (outside / "secret.jpg").write_bytes(SECRET)
    (hostile / "secret.jpg").symlink_to(outside / "secret.jpg")
    (hostile / "passwd.jpg").symlink_to("/etc/passwd")
    (hostile / "zero.jpg").symlink_to("/dev/zero")
    os.mkfifo(hostile / "fifo.jpg")
    return {
        "hostile/header_bomb.jpg": _above_pillows_ceiling(60_000 * 60_000),
        "hostile/header_bomb.png": _above_pillows_ceiling(40_000 * 40_000),
        "hostile/pixel_bomb.png": _above_pillows_ceiling(30_000 * 30_000),
        "hostile/large_header.png": f"8000x8000 pixels, above dataset.max_image_pixels={LIMIT}",
        "hostile/secret.jpg": f"resolves to {outside / 'secret.jpg'}, outside the dataset root {root}",
        "hostile/passwd.jpg": f"resolves to /etc/passwd, outside the dataset root {root}",
        "hostile/zero.jpg": f"resolves to /dev/zero, outside the dataset root {root}",
        "hostile/fifo.jpg": "not a regular file (a FIFO)",
    }


@pytest.fixture()
def corpus_root(tmp_path: Path, lfw_root: Path) -> tuple[Path, dict[str, str]]:
    root = tmp_path / "images"
    return root, build_hostile_corpus(root, tmp_path / "outside", lfw_root)


# -- the checks one at a time ------------------------------------------------------------------


def test_each_hostile_file_is_refused_with_its_reason(corpus_root: tuple[Path, dict[str, str]]) -> None:
    root, reasons = corpus_root
    for name, reason in reasons.items():
        with pytest.raises(ImageDecodeError) as error:
            decode_image(root / name, root, max_pixels=LIMIT)
        assert str(error.value) == f"{root / name}: {reason}", name
        assert SECRET.decode() not in str(error.value) and "root:x:" not in str(error.value)


def test_images_at_the_limit_decode_and_above_it_do_not(tmp_path: Path, lfw_root: Path) -> None:
    path = lfw_root / LFW_SAMPLES[0]
    data = path.read_bytes()
    assert decode_image_bytes(data, path, max_pixels=250 * 250).shape == (250, 250, 3)
    with pytest.raises(ImageDecodeError) as error:
        decode_image_bytes(data, path, max_pixels=250 * 250 - 1)
    assert str(error.value) == f"{path}: 250x250 pixels, above dataset.max_image_pixels=62499"


def test_an_opencv_error_names_the_file(tmp_path: Path) -> None:
    # Within the pixel limit, but wider than OpenCV allows (2^20): its error is the file's failure.
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((1, 1_100_000, 3), np.uint8)).save(buffer, "TIFF", compression="tiff_deflate")
    path = tmp_path / "wide.tif"
    with pytest.raises(ImageDecodeError) as error:
        decode_image_bytes(buffer.getvalue(), path, max_pixels=LIMIT)
    assert str(error.value) == (
        f"{path}: not a decodable image: OpenCV: static_cast<size_t>(size.width) <= CV_IO_MAX_IMAGE_WIDTH"
    )


def test_links_and_folders_inside_the_root(tmp_path: Path, lfw_root: Path) -> None:
    shutil.copyfile(lfw_root / LFW_SAMPLES[0], tmp_path / "face.jpg")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "link.jpg").symlink_to("../face.jpg")  # inside: read like the file
    assert read_image_bytes(tmp_path / "sub" / "link.jpg", tmp_path) == (tmp_path / "face.jpg").read_bytes()
    with pytest.raises(ImageDecodeError, match=r"sub: not a regular file \(a directory\)$"):
        read_image_bytes(tmp_path / "sub", tmp_path)
    (tmp_path / "loop.jpg").symlink_to("loop.jpg")
    with pytest.raises(ImageDecodeError, match=r"loop\.jpg: cannot read: Too many levels of symbolic links$"):
        read_image_bytes(tmp_path / "loop.jpg", tmp_path)
    # The root itself may be reached through a link.
    (tmp_path.parent / f"{tmp_path.name}-link").symlink_to(tmp_path)
    linked_root = tmp_path.parent / f"{tmp_path.name}-link"
    assert read_image_bytes(linked_root / "face.jpg", linked_root)


@pytest.mark.parametrize("dataset", ["lfw", "lfw_aligned", "pairs"])
def test_the_limit_is_configured_and_checked(dataset: str) -> None:
    protocol = ["dataset.root=/tmp", "dataset.pairs_csv=pairs.csv"] if dataset == "pairs" else []
    assert bench_config(f"dataset={dataset}", *protocol).dataset.max_image_pixels == LIMIT
    for wrong in (0, 178_956_971):
        with pytest.raises(ConfigValueError, match=rf"dataset\.max_image_pixels must lie in .* got {wrong}"):
            bench_config(f"dataset={dataset}", *protocol, f"dataset.max_image_pixels={wrong}")


# -- a real run --------------------------------------------------------------------------------


@pytest.mark.parametrize("cache", ["disk", "off"])
def test_run_counts_hostile_files_and_goes_on(
    tmp_path: Path, corpus_root: tuple[Path, dict[str, str]], cache: str
) -> None:
    root, reasons = corpus_root
    good = list(LFW_SAMPLES)
    rows = [(good[i], good[i + 1], i % 2) for i in range(len(good) - 1)]
    rows += [(name, good[i % len(good)], i % 2) for i, name in enumerate(reasons)]
    config = pairs_config(
        root,
        pairs_csv(tmp_path / "pairs.csv", rows),
        "dataset.num_folds=2",
        "dataset.on_missing=count",  # the FIFO and /dev/zero are not files: counted, not listed
        f"cache={cache}",
        "detector=yunet",
    )
    with BenchmarkRunner(config) as runner:
        result = runner.run()

    records = records_by_path(result)
    assert_decode_errors(records, root, reasons)
    assert all(records[name].status is ImageStatus.DETECTED for name in good)
    assert result.metrics["num_failed_images"] == len(reasons)
    # What this run adds to the process, not the process's peak: pytest's process already holds
    # what earlier tests loaded. A decoded pixel bomb alone would add 6.6 GB; models and a few
    # batches of LFW images add a few hundred MiB.
    rss = [sample.rss_mb for sample in result.memory_trace]
    assert max(rss) - rss[0] < 1500, (rss[0], max(rss))

    write_failures(result, tmp_path / "failures.csv")
    failures = (tmp_path / "failures.csv").read_text()
    assert SECRET.decode() not in failures and "root:x:" not in failures
    assert bytes_digest(SECRET) not in failures
