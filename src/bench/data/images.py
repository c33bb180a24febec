"""Reading images into RGB arrays, with errors that name the file and the reason.

OpenCV 5's ``imdecode`` is the only decoder: with ``IMREAD_COLOR_RGB`` it already honours the
EXIF orientation, converts CMYK, palette and greyscale to RGB, drops alpha (the colour channels
are what the camera saw; compositing on a background would invent pixels) and scales 16-bit
samples to 8 bits (``>> 8``). It refuses a JPEG or PNG whose data stops early, so the bytes are
inspected only to say *why* a file failed, plus one check on success: a JPEG must have its
end-of-image marker after its last scan, which OpenCV does not require (a file cut just before
``FFD9`` decodes). A JPEG that stops early and was then given an ``FFD9`` decodes with grey fill:
libjpeg only warns, and catching that would take a second decoder on every image.

A data set's folder is not trusted: only regular files inside its root are read (``os.stat``
decides before anything is opened, so a FIFO or device never blocks a reader and a link out of
the root is never followed), and the pixel count in an image's header is checked against
``dataset.max_image_pixels`` before OpenCV allocates anything (Pillow reads the header only). A
format whose header Pillow cannot read is refused: its size could not be checked.
"""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import cv2
import numpy as np
from PIL import Image


class ImageDecodeError(ValueError):
    """A file that is missing or is not a readable image."""


_JPEG_START = b"\xff\xd8\xff"
_JPEG_END = b"\xff\xd9"
_JPEG_SCAN = b"\xff\xda"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Formats named in the reason when a file with their signature fails to decode.
_SIGNATURES = {
    _JPEG_START: "JPEG",
    _PNG_SIGNATURE: "PNG",
    b"GIF8": "GIF",
    b"BM": "BMP",
    b"II*\x00": "TIFF",
    b"MM\x00*": "TIFF",
}


def decode_image(path: Path, root: Path, max_pixels: int) -> np.ndarray:
    """An ``HxWx3`` ``uint8`` RGB array, upright, at the file's own size (the runner resizes)."""
    return decode_image_bytes(read_image_bytes(path, root), path, max_pixels)


def read_image_bytes(path: Path, root: Path) -> bytes:
    """The bytes of ``path``, a regular file inside ``root`` (``image_file``); an unreadable or
    refused file is an ``ImageDecodeError`` naming it and why."""
    real = image_file(path, root)
    try:
        return real.read_bytes()
    except OSError as error:
        raise ImageDecodeError(unreadable_reason(path, error)) from None


def image_file(path: Path, root: Path) -> Path:
    """``path`` with its links resolved, if that is a regular file inside ``root``: a data set's
    links may point anywhere (a secret file, ``/dev/zero``) and a FIFO blocks whoever opens it,
    so anything else is an ``ImageDecodeError``, decided by ``os.stat`` without opening it."""
    real = Path(os.path.realpath(path))
    if not real.is_relative_to(os.path.realpath(root)):
        raise ImageDecodeError(f"{path}: resolves to {real}, outside the dataset root {root}")
    try:
        mode = os.stat(real).st_mode
    except OSError as error:
        raise ImageDecodeError(unreadable_reason(path, error)) from None
    if not stat.S_ISREG(mode):
        raise ImageDecodeError(f"{path}: not a regular file ({_kind_of_file(mode)})")
    return real


def decode_image_bytes(data: bytes, path: Path, max_pixels: int) -> np.ndarray:
    """``decode_image`` on bytes already read from ``path`` (named in errors), so that a caller
    can hash and decode one read of the file."""
    if not data:
        raise ImageDecodeError(f"{path}: empty file")
    width, height = _header_size(data, path, max_pixels)
    if width * height > max_pixels:
        raise ImageDecodeError(
            f"{path}: {width}x{height} pixels, above dataset.max_image_pixels={max_pixels}"
        )
    try:
        image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR_RGB)
    except cv2.error as error:
        raise ImageDecodeError(f"{path}: not a decodable image: OpenCV: {error.err}") from None
    if image is None:
        raise ImageDecodeError(f"{path}: {_why_undecodable(data)}")
    if data.startswith(_JPEG_START) and not _jpeg_complete(data):
        raise ImageDecodeError(f"{path}: truncated JPEG: no end-of-image marker")
    return image


def unreadable_reason(path: Path, error: OSError) -> str:
    """Why ``path`` could not be read, worded for failures.csv (whoever opens the file first)."""
    if isinstance(error, FileNotFoundError):
        return f"{path}: file does not exist"
    return f"{path}: cannot read: {error.strerror or error}"


def _header_size(data: bytes, path: Path, max_pixels: int) -> tuple[int, int]:
    """Width and height from the header, read by Pillow without decoding any pixels. Pillow
    refuses a header above twice its ``MAX_IMAGE_PIXELS`` (the schema keeps ``max_pixels`` at or
    below that), naming the pixel count: that refusal means the image is above the limit too."""
    try:
        with Image.open(io.BytesIO(data)) as header:
            return header.size
    except Image.DecompressionBombError as error:
        raise ImageDecodeError(
            f"{path}: above dataset.max_image_pixels={max_pixels}; Pillow: {error}"
        ) from None
    except Exception:  # any failure to parse a hostile header is that file's failure
        raise ImageDecodeError(f"{path}: {_why_undecodable(data)}") from None


def _kind_of_file(mode: int) -> str:
    kinds = {
        stat.S_ISDIR: "a directory",
        stat.S_ISFIFO: "a FIFO",
        stat.S_ISCHR: "a character device",
        stat.S_ISBLK: "a block device",
        stat.S_ISSOCK: "a socket",
    }
    return next((kind for test, kind in kinds.items() if test(mode)), f"mode {stat.filemode(mode)}")


def _why_undecodable(data: bytes) -> str:
    if data.startswith(_JPEG_START) and not _jpeg_complete(data):
        return "truncated JPEG: no end-of-image marker"
    if data.startswith(_PNG_SIGNATURE) and not _png_complete(data):
        return "truncated PNG: no IEND chunk"
    for signature, kind in _SIGNATURES.items():
        if data.startswith(signature):
            return f"not a decodable image: corrupt {kind} data"
    return f"not an image: unrecognised format, starts with {data[:16]!r}"


def _jpeg_complete(data: bytes) -> bool:
    """Whether an end-of-image marker follows the last start-of-scan. Entropy-coded data never
    holds ``FFD9``, and an EXIF thumbnail's own markers come before the main image's scans."""
    return data.endswith(_JPEG_END) or data.rfind(_JPEG_END) > data.rfind(_JPEG_SCAN)


def _png_complete(data: bytes) -> bool:
    """Whether the chunk sequence reaches an ``IEND`` chunk inside the file."""
    offset = len(_PNG_SIGNATURE)
    while offset + 8 <= len(data):
        length = int.from_bytes(data[offset : offset + 4], "big")
        kind = data[offset + 4 : offset + 8]
        offset += 12 + length  # length, type, data, CRC
        if kind == b"IEND":
            return offset <= len(data)
    return False
