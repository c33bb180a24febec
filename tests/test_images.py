"""Decoding every odd or broken image file: the right pixels, or an error naming file and reason."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from bench.data import ImageDecodeError
from bench.data import decode_image as decode_image_in

from . import corpus
from .conftest import LFW_SAMPLES, read_rgb

#: ``dataset.max_image_pixels``'s default.
MAX_PIXELS = 50_000_000


def decode_image(path: Path) -> np.ndarray:
    """``decode_image`` of a file in its own folder, with the default pixel limit."""
    return decode_image_in(path, path.parent, MAX_PIXELS)


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (corpus.empty_file, "empty file"),
        (corpus.truncated_jpeg, "truncated JPEG: no end-of-image marker"),
        # OpenCV decodes this one: only the end-of-image check catches it.
        (corpus.jpeg_without_end_marker, "truncated JPEG: no end-of-image marker"),
        (corpus.truncated_png, "truncated PNG: no IEND chunk"),
        (corpus.corrupt_jpeg, "not a decodable image: corrupt JPEG data"),
        (corpus.text_file, "not an image: starts with bytes that no supported format has"),
    ],
)
def test_bad_files_raise_with_file_and_reason(
    tmp_path: Path, make: Callable[[Path], Path], reason: str
) -> None:
    path = make(tmp_path)
    with pytest.raises(ImageDecodeError) as error:
        decode_image(path)
    assert str(error.value) == f"{path}: {reason}"


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(ImageDecodeError) as error:
        decode_image(tmp_path / "gone.jpg")
    assert str(error.value) == f"{tmp_path / 'gone.jpg'}: file does not exist"
    (tmp_path / "folder.jpg").mkdir()
    with pytest.raises(ImageDecodeError) as error:
        decode_image(tmp_path / "folder.jpg")
    assert str(error.value) == f"{tmp_path / 'folder.jpg'}: not a regular file (a directory)"


def test_truncated_real_photo(tmp_path: Path, lfw_root: Path) -> None:
    path = corpus.truncated_jpeg(tmp_path, source=(lfw_root / LFW_SAMPLES[0]).read_bytes())
    with pytest.raises(ImageDecodeError, match="truncated JPEG"):
        decode_image(path)


def test_real_photo_is_read_as_before(lfw_root: Path) -> None:
    path = lfw_root / LFW_SAMPLES[2]
    image = decode_image(path)
    assert image.dtype == np.uint8 and image.shape == (250, 250, 3)
    np.testing.assert_array_equal(image, read_rgb(path))


def test_bytes_after_the_end_marker_are_ignored(tmp_path: Path) -> None:
    image = decode_image(corpus.jpeg_with_trailing_bytes(tmp_path))
    assert image.shape == (120, 100, 3)
    assert np.abs(image.astype(int) - corpus.pattern(120, 100)).mean() < 2


def test_greyscale_becomes_three_equal_channels(tmp_path: Path) -> None:
    path = corpus.greyscale_jpeg(tmp_path)
    image = decode_image(path)
    assert image.shape == (120, 100, 3)
    np.testing.assert_array_equal(image[..., 0], image[..., 1])
    np.testing.assert_array_equal(image[..., 0], image[..., 2])
    np.testing.assert_array_equal(image[..., 0], np.asarray(Image.open(path)))


def test_cmyk_matches_pillows_conversion(tmp_path: Path) -> None:
    path = corpus.cmyk_jpeg(tmp_path)
    assert Image.open(path).mode == "CMYK"
    image = decode_image(path)
    reference = np.asarray(Image.open(path).convert("RGB"))
    assert image.shape == reference.shape
    assert np.abs(image.astype(int) - reference).max() <= 2  # rounding of the two converters
    assert np.abs(image.astype(int) - corpus.pattern(120, 100)).mean() < 3


def test_alpha_is_dropped(tmp_path: Path) -> None:
    # The colour channels come back as stored, even where alpha is 0: no compositing.
    image = decode_image(corpus.rgba_png(tmp_path))
    np.testing.assert_array_equal(image, corpus.pattern(120, 100))


def test_palette_becomes_rgb(tmp_path: Path) -> None:
    path = corpus.palette_png(tmp_path)
    assert Image.open(path).mode == "P"
    np.testing.assert_array_equal(decode_image(path), np.asarray(Image.open(path).convert("RGB")))


def test_16_bit_is_scaled_to_8_bits(tmp_path: Path) -> None:
    path, rgb16 = corpus.png_16bit(tmp_path)
    image = decode_image(path)
    assert image.dtype == np.uint8
    np.testing.assert_array_equal(image, (rgb16 >> 8).astype(np.uint8))
    assert tuple(image[0, 0]) == (255, 128, 0)  # the low bytes would give (255, 0, 255)


def test_exif_orientation_is_honoured(tmp_path: Path) -> None:
    path, upright = corpus.exif_rotated_jpeg(tmp_path)
    assert Image.open(path).size == (120, 80)  # stored landscape
    image = decode_image(path)
    assert image.shape == (120, 80, 3)  # comes out portrait
    assert np.abs(image.astype(int) - upright).mean() < 3
    np.testing.assert_array_equal(image, np.asarray(ImageOps.exif_transpose(Image.open(path))))


def test_tiny_and_huge_images_decode_at_their_size(tmp_path: Path) -> None:
    assert decode_image(corpus.tiny_jpeg(tmp_path)).shape == (8, 8, 3)
    path = corpus.huge_jpeg(tmp_path)  # 64 MP: above the default limit, so raised for it
    huge = decode_image_in(path, tmp_path, max_pixels=8000 * 8000)
    assert huge.shape == (8000, 8000, 3) and huge.dtype == np.uint8
    with pytest.raises(ImageDecodeError, match=r"8000x8000 pixels, above dataset\.max_image_pixels=50000000"):
        decode_image(path)
