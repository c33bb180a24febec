"""Reading images into RGB arrays, with errors that name the file and the reason.

OpenCV 5's ``imdecode`` is the decoder: with ``IMREAD_COLOR_RGB`` it already honours the EXIF
orientation, converts CMYK, palette and greyscale to RGB, drops alpha (the colour channels are
what the camera saw; compositing on a background would invent pixels) and scales 16-bit samples
to 8 bits (``>> 8``). It refuses a JPEG or PNG whose data stops early, so the bytes are
inspected only to say *why* a file failed, plus one check before decoding: a JPEG must have its
end-of-image marker after its last scan, which OpenCV does not require (a file cut just before
``FFD9`` decodes). Pillow decodes, the same way, the formats OpenCV has no decoder for that
``_PILLOW_DECODED`` names (ICO, TGA), and the JPEGs libjpeg warns about but whose pixels are
intact (``bench.data.jpeg_warnings``: each JPEG is checked first, so that libjpeg's warning is
logged against its file, and a JPEG whose pixels libjpeg would make up is a failure).

A data set's folder is not trusted: only regular files inside its root are read (``os.stat``
decides before anything is opened, so a FIFO or device never blocks a reader and a link out of
the root is never followed), and the pixel count in an image's header is checked against
``dataset.max_image_pixels`` before anything is decoded (Pillow reads the header only). A format
whose header Pillow cannot read is refused: its size could not be checked. A hard link cannot be
told from the file it links: both names are the one file, and refusing every file with a second
link would refuse data sets that deduplicating tools, backups (``rsync --link-dest``) and DVC's
cache legitimately link. So no failure reason shows a file's bytes, only its format, which is
all that a hard link out of the root to a non-image file could reveal.
"""

from __future__ import annotations

import io
import logging
import os
import stat
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps

from bench.data.jpeg_warnings import jpeg_warning, leaves_pixels_intact

log = logging.getLogger(__name__)


class ImageDecodeError(ValueError):
    """A file that is missing or is not a readable image. ``reason`` names no file: a result
    stored under the bytes' content (a failure too) is shared by every file with those bytes,
    so only the message adds the path."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = path, reason


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
#: Formats OpenCV has no decoder for that Pillow decodes with its own code (no helper program, as
#: EPS would start), by the name Pillow gives them.
_PILLOW_DECODED = frozenset({"ICO", "TGA"})
#: Formats without a signature: Pillow guesses them from header fields that any file may hold, so
#: they are read only under a name of theirs (``Image.registered_extensions``).
_NO_SIGNATURE = frozenset({"TGA"})


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
        raise ImageDecodeError(path, unreadable_reason(error)) from None


def image_file(path: Path, root: Path) -> Path:
    """``path`` with its links resolved, if that is a regular file inside ``root``: a data set's
    links may point anywhere (a secret file, ``/dev/zero``) and a FIFO blocks whoever opens it,
    so anything else is an ``ImageDecodeError``, decided by ``os.stat`` without opening it."""
    real = Path(os.path.realpath(path))
    if not real.is_relative_to(os.path.realpath(root)):
        raise ImageDecodeError(path, f"resolves to {real}, outside the dataset root {root}")
    try:
        mode = os.stat(real).st_mode
    except OSError as error:
        raise ImageDecodeError(path, unreadable_reason(error)) from None
    if not stat.S_ISREG(mode):
        raise ImageDecodeError(path, f"not a regular file ({_kind_of_file(mode)})")
    return real


def image_pixels(path: Path, root: Path) -> int:
    """The pixel count ``path``'s header declares, read without decoding any pixels (Pillow reads
    a few KiB), so memory can be budgeted before an image is decoded; 0 for a file refused or
    unparsable, whose decode then says why."""
    try:
        with Image.open(image_file(path, root)) as header:
            width, height = header.size
    except Exception:  # a hostile header is its decode's failure to report, not the budget's
        return 0
    return width * height


def decode_image_bytes(data: bytes, path: Path, max_pixels: int) -> np.ndarray:
    """``decode_image`` on bytes already read from ``path`` (named in errors), so that a caller
    can hash and decode one read of the file."""
    if not data:
        raise ImageDecodeError(path, "empty file")
    (width, height), kind = _header(data, path, max_pixels)
    if width * height > max_pixels:
        raise ImageDecodeError(path, f"{width}x{height} pixels, above dataset.max_image_pixels={max_pixels}")
    if data.startswith(_JPEG_START) and (warning := _harmless_jpeg_warning(data, path)) is not None:
        log.warning("%s: libjpeg warns: %s (the pixels are intact)", path, warning)
        return _pillow_rgb(data, path, "JPEG")  # OpenCV's libjpeg would print the warning to stderr
    try:
        image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR_RGB)
    except cv2.error as error:
        raise ImageDecodeError(path, f"not a decodable image: OpenCV: {error.err}") from None
    if image is not None:
        return image
    if kind not in _PILLOW_DECODED:
        raise ImageDecodeError(path, _why_undecodable(data, kind))
    if kind in _NO_SIGNATURE and Image.registered_extensions().get(path.suffix.lower()) != kind:
        raise ImageDecodeError(
            path,
            f"read as {kind} only when named .{kind.lower()} ({kind} has no signature to recognise it by): "
            "rename it if it is one",
        )
    return _pillow_rgb(data, path, kind)


def signature_format(data: bytes) -> str | None:
    """The image format whose signature ``data`` starts with, if any (never the bytes themselves)."""
    return next((kind for signature, kind in _SIGNATURES.items() if data.startswith(signature)), None)


def unreadable_reason(error: OSError) -> str:
    """Why a file could not be read, worded for failures.csv (whoever opens the file first)."""
    if isinstance(error, FileNotFoundError):
        return "file does not exist"
    return f"cannot read: {error.strerror or error}"


def _header(data: bytes, path: Path, max_pixels: int) -> tuple[tuple[int, int], str]:
    """Width and height from the header, and the format Pillow names, read without decoding any
    pixels. Pillow refuses a header above twice its ``MAX_IMAGE_PIXELS`` (the schema keeps
    ``max_pixels`` at or below that), naming the pixel count: the image is above the limit too."""
    try:
        with Image.open(io.BytesIO(data)) as header:
            return header.size, str(header.format)
    except Image.DecompressionBombError as error:
        raise ImageDecodeError(
            path, f"above dataset.max_image_pixels={max_pixels}; Pillow: {error}"
        ) from None
    except Exception:  # any failure to parse a hostile header is that file's failure
        raise ImageDecodeError(path, _why_undecodable(data, None)) from None


def _harmless_jpeg_warning(data: bytes, path: Path) -> str | None:
    """libjpeg's warning about the JPEG ``data``, if it has one that leaves the pixels intact; a
    JPEG cut before its end marker (OpenCV decodes one cut just before it) or whose pixels libjpeg
    would make up is refused."""
    if not _jpeg_complete(data):
        raise ImageDecodeError(path, "truncated JPEG: no end-of-image marker")
    warning = jpeg_warning(data)
    if warning is not None and not leaves_pixels_intact(warning):
        raise ImageDecodeError(path, f"not a decodable image: corrupt JPEG data (libjpeg: {warning})")
    return warning


def _pillow_rgb(data: bytes, path: Path, kind: str) -> np.ndarray:
    """``data`` decoded by Pillow as OpenCV decodes: upright by its EXIF orientation, alpha
    dropped, palette and greyscale expanded to RGB."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return np.array(ImageOps.exif_transpose(image).convert("RGB"))
    except Exception:  # any failure to decode a hostile file is that file's failure
        raise ImageDecodeError(path, f"not a decodable image: corrupt {kind} data") from None


def _kind_of_file(mode: int) -> str:
    kinds = {
        stat.S_ISDIR: "a directory",
        stat.S_ISFIFO: "a FIFO",
        stat.S_ISCHR: "a character device",
        stat.S_ISBLK: "a block device",
        stat.S_ISSOCK: "a socket",
    }
    return next((kind for test, kind in kinds.items() if test(mode)), f"mode {stat.filemode(mode)}")


def _why_undecodable(data: bytes, pillows_format: str | None) -> str:
    """Why ``data`` did not decode, by its format alone: the reason must not show the bytes of a
    file that may not be an image at all (a hard link to a secret)."""
    if data.startswith(_JPEG_START) and not _jpeg_complete(data):
        return "truncated JPEG: no end-of-image marker"
    if data.startswith(_PNG_SIGNATURE) and not _png_complete(data):
        return "truncated PNG: no IEND chunk"
    if (kind := signature_format(data)) is not None:
        return f"not a decodable image: corrupt {kind} data"
    if pillows_format is not None:
        return f"not decodable: a {pillows_format} image, a format this benchmark does not read"
    return "not an image: starts with bytes that no supported format has"


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
