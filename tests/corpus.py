"""Odd and broken image files, written on demand so each test builds its own corpus.

Every function writes one file into ``folder`` and returns its path. The pictures are a
deterministic pattern (no faces) unless a real image's bytes are passed in.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from bench.pipeline import BenchmarkResult, ImageRecord, ImageStatus

#: EXIF tag 0x0112: how the stored pixels must be turned for display (6: 90 degrees clockwise).
ORIENTATION = 0x0112


def pattern(height: int, width: int) -> np.ndarray:
    """An RGB picture whose every region differs: red grows left to right, green top to bottom,
    and a blue block marks the top-left corner (so a rotation or flip shows)."""
    red = np.linspace(0, 255, width, dtype=np.float32)[None, :].repeat(height, 0)
    green = np.linspace(0, 255, height, dtype=np.float32)[:, None].repeat(width, 1)
    image = np.stack([red, green, np.full_like(red, 64)], axis=-1).astype(np.uint8)
    image[: height // 4, : width // 4, 2] = 255
    return image


def jpeg_bytes(rgb: np.ndarray, quality: int = 95) -> bytes:
    ok, encoded = cv2.imencode(
        ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    assert ok
    return encoded.tobytes()


def png_bytes(image: np.ndarray) -> bytes:
    """PNG of an array as OpenCV stores it (BGR order for colour, any depth)."""
    ok, encoded = cv2.imencode(".png", image)
    assert ok
    return encoded.tobytes()


def _write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _save_pil(folder: Path, name: str, image: Image.Image, **options: object) -> Path:
    buffer = io.BytesIO()
    image.save(buffer, **options)
    return _write(folder, name, buffer.getvalue())


def empty_file(folder: Path, name: str = "empty.jpg") -> Path:
    return _write(folder, name, b"")


def truncated_jpeg(folder: Path, name: str = "truncated.jpg", source: bytes | None = None) -> Path:
    """The first half of a JPEG: a partial download."""
    data = source or jpeg_bytes(pattern(120, 100))
    return _write(folder, name, data[: len(data) // 2])


def jpeg_without_end_marker(folder: Path, name: str = "no_eoi.jpg") -> Path:
    """A JPEG missing only its final ``FFD9`` marker, which OpenCV decodes without complaint."""
    data = jpeg_bytes(pattern(120, 100))
    assert data.endswith(b"\xff\xd9")
    return _write(folder, name, data[:-2])


def jpeg_with_trailing_bytes(folder: Path, name: str = "trailing.jpg") -> Path:
    """A complete JPEG followed by padding, as some cameras and tools write: still valid."""
    return _write(folder, name, jpeg_bytes(pattern(120, 100)) + bytes(64))


def truncated_png(folder: Path, name: str = "truncated.png") -> Path:
    data = png_bytes(cv2.cvtColor(pattern(120, 100), cv2.COLOR_RGB2BGR))
    return _write(folder, name, data[: len(data) // 2])


def corrupt_jpeg(folder: Path, name: str = "corrupt.jpg", source: bytes | None = None) -> Path:
    """A whole JPEG whose headers after the start marker are overwritten with junk."""
    data = bytearray(source or jpeg_bytes(pattern(120, 100)))
    data[4:260] = b"\xab" * 256
    return _write(folder, name, bytes(data))


def text_file(folder: Path, name: str = "notes.jpg") -> Path:
    """Not an image at all, under an image's name (e.g. an HTML error page saved as .jpg)."""
    return _write(folder, name, b"<!DOCTYPE html><title>404 Not Found</title>\n")


def greyscale_jpeg(folder: Path, name: str = "grey.jpg") -> Path:
    ok, encoded = cv2.imencode(".jpg", pattern(120, 100)[..., 0], [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    return _write(folder, name, encoded.tobytes())


def cmyk_jpeg(folder: Path, name: str = "cmyk.jpg") -> Path:
    """A CMYK JPEG as print workflows write it (Pillow adds Adobe's inverted-CMYK marker)."""
    return _save_pil(
        folder, name, Image.fromarray(pattern(120, 100)).convert("CMYK"), format="JPEG", quality=95
    )


def rgba_png(folder: Path, name: str = "rgba.png") -> Path:
    """Colour under an alpha channel that varies from transparent to opaque."""
    rgb = pattern(120, 100)
    alpha = np.linspace(0, 255, 100, dtype=np.uint8)[None, :].repeat(120, 0)
    return _save_pil(folder, name, Image.fromarray(np.dstack([rgb, alpha])), format="PNG")


def palette_png(folder: Path, name: str = "palette.png") -> Path:
    return _save_pil(folder, name, Image.fromarray(pattern(120, 100)).convert("P"), format="PNG")


def png_16bit(folder: Path, name: str = "deep.png") -> tuple[Path, np.ndarray]:
    """A 16-bit RGB PNG; returns the path and the RGB ``uint16`` samples written."""
    rgb16 = pattern(120, 100).astype(np.uint16) * 257  # 8-bit value v is 16-bit v * 257
    rgb16[0, 0] = (0xFFFF, 0x8000, 0x00FF)  # top byte 255, 128, 0: scaling, not the low byte
    return _write(folder, name, png_bytes(cv2.cvtColor(rgb16, cv2.COLOR_RGB2BGR))), rgb16


def exif_rotated_jpeg(folder: Path, name: str = "rotated.jpg") -> tuple[Path, np.ndarray]:
    """A portrait picture stored landscape with EXIF Orientation=6, as a phone held upright
    writes it; returns the path and the upright picture."""
    upright = pattern(120, 80)
    stored = np.ascontiguousarray(np.rot90(upright, 1))  # 90 degrees counter-clockwise
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    path = _save_pil(folder, name, Image.fromarray(stored), format="JPEG", quality=95, exif=exif)
    return path, upright


def tiny_jpeg(folder: Path, name: str = "tiny.jpg") -> Path:
    return _write(folder, name, jpeg_bytes(pattern(8, 8)))


def huge_jpeg(folder: Path, name: str = "huge.jpg", side: int = 8000) -> Path:
    """A ``side x side`` JPEG (flat colour, so the file stays small)."""
    return _write(folder, name, jpeg_bytes(np.full((side, side, 3), 90, dtype=np.uint8)))


def pairs_csv(path: Path, rows: Iterable[tuple[str, str, int]]) -> Path:
    """A ``dataset=pairs`` protocol: the header, then ``path_a, path_b, label`` per pair."""
    with path.open("w", newline="") as file:
        csv.writer(file).writerows([("path_a", "path_b", "label"), *rows])
    return path


def records_by_path(result: BenchmarkResult) -> dict[str, ImageRecord]:
    return {record.path: record for record in result.records}


def assert_decode_errors(records: Mapping[str, ImageRecord], root: Path, reasons: Mapping[str, str]) -> None:
    """Each file of ``reasons`` (relative to ``root``) failed to decode, with its reason (which
    names no file: the record's path does)."""
    for name, reason in reasons.items():
        assert records[name].status is ImageStatus.DECODE_ERROR, name
        assert records[name].reason == reason
