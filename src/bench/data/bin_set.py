"""insightface's validation format (``lfw.bin``, ``cfp_fp.bin``, ``agedb_30.bin``, ...).

A ``.bin`` is a pickle of ``(images, same)``: ``2N`` encoded aligned 112x112 faces (JPEG or PNG
bytes), pair ``i`` being images ``2i`` and ``2i + 1``, and ``N`` same/different flags. Files made
under Python 2 hold ``str`` images, read as bytes here. Since a pickle can run code on load, it is
read by ``bench.data.bin_pickle``, which admits only what the format holds (containers, bytes,
booleans, and numpy's arrays and scalars), so a hostile file fails with a message instead.

The runner reads images from a folder, so a set is unpacked once into the asset cache (named by
a hash of the file's content), each distinct image once: ``lfw.bin`` repeats every image each
time a pair uses it (12,000 entries, 7,701 images). Folds are insightface's: ``KFold(10)``
without shuffling over the pairs in file order, which for LFW are the official folds.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.model_selection import KFold

from bench.assets.resolver import cache_root, sha256_of
from bench.data.bin_pickle import load_restricted
from bench.data.images import signature_format
from bench.data.pairs import Pair, ProtocolError

#: insightface's folds: ``KFold(n_splits=10, shuffle=False)`` over the pairs.
NUM_FOLDS = 10
#: Bump when the unpacked folder's layout changes, so old folders are not reused.
_LAYOUT = "1"
_FLAGS_HELP = "the flags must be a list of booleans, one a pair"


class BinFormatError(ProtocolError):
    """A ``.bin`` that is not insightface's validation format."""


@dataclass(frozen=True)
class BinSet:
    """A ``.bin``'s content: ``images[2i]`` and ``images[2i + 1]`` are pair ``i``."""

    images: list[bytes]
    same: np.ndarray


def read_bin(path: Path) -> BinSet:
    """The images and flags of ``path``; a file of another format is a ``BinFormatError``."""
    try:
        with open(path, "rb") as handle:
            content = load_restricted(handle)
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as error:
        raise BinFormatError(
            f"{path}: not an insightface .bin (a pickle of images and flags): {error}"
        ) from None
    if not (isinstance(content, (tuple, list)) and len(content) == 2):
        raise BinFormatError(
            f"{path}: expected a pickled (images, same_flags) pair, got {type(content).__name__}"
        )
    images, flags = content
    if not isinstance(images, (list, tuple)):
        raise BinFormatError(
            f"{path}: the images must be a list of encoded images, got {type(images).__name__}"
        )
    images = [_image_bytes(path, index, image) for index, image in enumerate(images)]
    same = _flags(path, flags)
    if len(images) != 2 * len(same):
        raise BinFormatError(
            f"{path}: {len(images)} images for {len(same)} pairs; the format holds two images a pair"
        )
    return BinSet(images, same)


def write_bin(path: Path, images: Sequence[bytes], same: Sequence[bool]) -> None:
    """Write a ``.bin`` that insightface's ``load_bin`` reads: encoded images, two a pair."""
    if len(images) != 2 * len(same):
        raise ValueError(f"{len(images)} images for {len(same)} pairs; the format holds two images a pair")
    with open(path, "wb") as handle:
        pickle.dump(([bytes(image) for image in images], [bool(flag) for flag in same]), handle, protocol=4)


def unpack_bin(path: Path) -> tuple[Path, list[Pair]]:
    """The folder of ``path``'s distinct images (made once, atomically) and its pairs with
    insightface's folds; images are named ``<first index>.<jpg|png>`` after their first entry."""
    content = read_bin(path)
    names: dict[bytes, str] = {}
    files: dict[str, bytes] = {}
    entries = []
    for index, image in enumerate(content.images):
        digest = hashlib.sha256(image).digest()
        if digest not in names:
            names[digest] = f"{index:06d}.{_extension(path, index, image)}"
            files[names[digest]] = image
        entries.append(names[digest])
    pairs = _pairs(entries, content.same)
    key = hashlib.sha256(f"{sha256_of(path)}\n{_LAYOUT}".encode()).hexdigest()[:12]
    folder = cache_root() / "bin" / f"{path.stem}-{key}"
    if not folder.is_dir():
        _write_folder(folder, files)
    return folder, pairs


def _pairs(entries: list[str], same: np.ndarray) -> list[Pair]:
    if len(same) < NUM_FOLDS:
        raise BinFormatError(f"{len(same)} pairs cannot be split into insightface's {NUM_FOLDS} folds")
    fold_of = np.empty(len(same), dtype=np.int64)
    for fold, (_, held_out) in enumerate(KFold(n_splits=NUM_FOLDS, shuffle=False).split(same)):
        fold_of[held_out] = fold
    return [
        Pair(entries[2 * i], entries[2 * i + 1], bool(same[i]), int(fold_of[i]), line=i + 1)
        for i in range(len(same))
    ]


def _write_folder(folder: Path, files: dict[str, bytes]) -> None:
    """Write ``files`` into a temporary sibling and rename it into place: a concurrent or killed
    unpacking never leaves a partial folder under the final name."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        for name, data in files.items():
            (staging / name).write_bytes(data)
        os.rename(staging, folder)
    except OSError:
        if not folder.is_dir():  # not lost to a concurrent unpacking of the same file
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _flags(path: Path, flags: object) -> np.ndarray:
    """The same/different flags: a list (or a 1-D array) of booleans, or of 0 and 1."""
    if isinstance(flags, np.ndarray) and flags.ndim == 1:
        flags = flags.tolist()
    if not isinstance(flags, (list, tuple)):
        raise BinFormatError(f"{path}: {_FLAGS_HELP}, got {type(flags).__name__}")
    for index, flag in enumerate(flags):
        if not (isinstance(flag, (int, np.integer, np.bool_)) and flag in (0, 1)):
            shown = int(flag) if isinstance(flag, (int, np.integer)) else f"a {type(flag).__name__}"
            raise BinFormatError(f"{path}: {_FLAGS_HELP}: flag {index} is {shown}")
    return np.array(flags, dtype=bool)


def _image_bytes(path: Path, index: int, image: object) -> bytes:
    if isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 1:
        return image.tobytes()
    if isinstance(image, (bytes, bytearray)):
        return bytes(image)
    raise BinFormatError(f"{path}: image {index} is a {type(image).__name__}, not encoded image bytes")


def _extension(path: Path, index: int, image: bytes) -> str:
    if image.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if image.startswith(b"\x89PNG"):
        return "png"
    kind = signature_format(image)
    raise BinFormatError(f"{path}: image {index} is neither JPEG nor PNG (it is {kind or 'no image format'})")
