"""insightface's training sets (MS1MV2, Glint360K, ...): MXNet's RecordIO, without MXNet.

    python -m bench.training.recordio pack FOLDER PREFIX     # FOLDER/<identity>/*.jpg -> PREFIX.rec/.idx

The file is dmlc-core's RecordIO (``include/dmlc/recordio.h``, ``src/recordio.cc``), which
``mx.recordio.MXRecordIO`` wraps: each record is the magic number ``0xced7230a``, a ``uint32``
lrecord (bits 29-31 a continuation flag, the rest the length), the payload, and zeros up to a
multiple of 4 bytes (little-endian throughout). A payload holding the magic number at an offset
that is a multiple of 4 would look like the start of a record to a reader scanning for one, so
the writer cuts it there: the pieces before, between and after the magic numbers become records
flagged 1 (first), 2 (middle) and 3 (last), and the reader puts the magic numbers back. The
``.idx`` (``MXIndexedRecordIO``) has a ``key<TAB>offset`` line per record, in writing order.

A payload starts with ``mx.recordio.pack``'s header, ``IRHeader`` (``<IfQQ``: flag, label, id,
id2): a scalar label is stored in the header with flag 0; a list of labels makes flag their count,
the header's label 0, and the labels follow as float32.

insightface's layout (``src/data/face2rec2.py``, read by ``recognition/arcface_torch/dataset.py``
and ``recognition/arcface_mxnet/image_iter.py``): the images are keys ``1 .. N``; key 0 holds
the labels ``(N + 1, N + 1 + K)``, the range of keys of the ``K`` identity records; identity
record ``N + 1 + j`` holds ``(first, end)``, the keys of identity ``j``'s images. A set without
this header (flag 0 at key 0, as plain ``im2rec`` writes) is every key of the index.
"""

from __future__ import annotations

import argparse
import io
import numbers
import os
import re
import struct
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import NamedTuple

import numpy as np
from torch.utils.data import Dataset

from bench.data.images import ImageDecodeError, read_image_bytes
from bench.training.data import ImageFolderDataset, TrainingDataError, decode_face

#: dmlc's ``RecordIOWriter::kMagic``; its top 3 bits (6) are no valid flag, so no lrecord equals it.
MAGIC = 0xCED7230A
_MAGIC_BYTES = struct.pack("<I", MAGIC)
_RECORD_HEAD = struct.Struct("<II")
_IR_HEADER = struct.Struct("<IfQQ")
#: dmlc keeps a length in the lrecord's low 29 bits (``WriteRecord`` checks ``size < 2^29``).
_LENGTH_MASK = (1 << 29) - 1
_WHOLE, _FIRST, _MIDDLE, _LAST = range(4)
#: At most 18 digits: every key and offset fits in an int64.
_INDEX_LINE = re.compile(r"(-?\d{1,18})\t(\d{1,18})")
#: An image record's IRHeader and the first label of a list: all a label scan reads of a record.
_LABEL_PREFIX = np.dtype([("flag", "<u4"), ("label", "<f4"), ("ids", "<u8", 2), ("first", "<f4")])
#: Records whose prefixes one vectorised read gathers: bounds the scan's index arrays (~20 MB).
_SCAN_CHUNK = 65_536


class RecordIOError(ValueError):
    """A ``.rec``/``.idx`` pair that is not a readable RecordIO, or a key it does not hold."""


class IRHeader(NamedTuple):
    """MXNet's image record header. ``label`` is a float, or the float32 labels when ``flag > 0``."""

    flag: int
    label: float | np.ndarray
    id: int
    id2: int


def pack(header: IRHeader, payload: bytes) -> bytes:
    """``mx.recordio.pack``: a number label goes in the header (flag 0); a sequence sets flag to
    its length and follows the header as float32."""
    if isinstance(header.label, numbers.Number):
        return _IR_HEADER.pack(0, header.label, header.id, header.id2) + payload
    labels = np.asarray(header.label, dtype="<f4").ravel()
    return _IR_HEADER.pack(labels.size, 0.0, header.id, header.id2) + labels.tobytes() + payload


def unpack(record: bytes) -> tuple[IRHeader, bytes]:
    """``mx.recordio.unpack``: the header (its labels when ``flag > 0``) and the rest, the image."""
    if len(record) < _IR_HEADER.size:
        raise RecordIOError(f"a {len(record)}-byte record cannot hold the {_IR_HEADER.size}-byte IRHeader")
    header = IRHeader(*_IR_HEADER.unpack_from(record))
    body = memoryview(record)[_IR_HEADER.size :]
    if header.flag > 0:
        if len(body) < 4 * header.flag:
            raise RecordIOError(f"the IRHeader announces {header.flag} labels; the record ends before them")
        header = header._replace(label=np.frombuffer(body, dtype="<f4", count=header.flag).copy())
        body = body[4 * header.flag :]
    return header, bytes(body)


def frame(payload: bytes) -> bytes:
    """``payload`` as dmlc's ``RecordIOWriter::WriteRecord`` writes it: split at each magic
    number at a multiple of 4, padded with zeros to a multiple of 4."""
    if len(payload) > _LENGTH_MASK:
        raise RecordIOError(f"a {len(payload)}-byte record; RecordIO holds at most {_LENGTH_MASK} bytes")
    pieces = []
    start = 0
    at = payload.find(_MAGIC_BYTES)
    while at >= 0:
        if at % 4 == 0:
            pieces.append(_record_head(_FIRST if start == 0 else _MIDDLE, at - start) + payload[start:at])
            start = at + 4
        at = payload.find(_MAGIC_BYTES, at + 1)
    pieces.append(_record_head(_LAST if start else _WHOLE, len(payload) - start) + payload[start:])
    pieces.append(bytes(-len(payload) % 4))
    return b"".join(pieces)


def iter_records(rec_path: Path) -> Iterator[tuple[int, bytes]]:
    """Every record of ``rec_path`` in file order with its offset (``MXRecordIO.read`` in turn):
    what an ``.idx`` must point to."""
    with open(rec_path, "rb", buffering=0) as handle:
        size = os.fstat(handle.fileno()).st_size
        offset = 0
        while offset < size:
            payload, following = _read_record(handle.fileno(), rec_path, offset, size)
            yield offset, payload
            offset = following


class RecordWriter:
    """``MXIndexedRecordIO(PREFIX.idx, PREFIX.rec, "w")``: each record appended and indexed under
    its key. Both files are written under temporary names and renamed when the writer closes
    without an error, so an interrupted packing leaves no set that looks complete."""

    def __init__(self, prefix: Path) -> None:
        self.rec_path, self.idx_path = _paths(prefix)
        self._partial = [path.with_name(path.name + ".partial") for path in (self.rec_path, self.idx_path)]
        self.rec_path.parent.mkdir(parents=True, exist_ok=True)
        self._rec = open(self._partial[0], "wb")  # noqa: SIM115 (closed by close())
        self._idx = open(self._partial[1], "w", encoding="ascii")  # noqa: SIM115

    def write(self, key: int, payload: bytes) -> None:
        self._idx.write(f"{key}\t{self._rec.tell()}\n")
        self._rec.write(frame(payload))

    def close(self, keep: bool = True) -> None:
        """Close the files; rename them into place if ``keep``, else delete them."""
        self._rec.close()
        self._idx.close()
        for partial, final in zip(self._partial, (self.rec_path, self.idx_path), strict=True):
            if keep:
                os.replace(partial, final)
            else:
                partial.unlink(missing_ok=True)

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close(keep=kind is None)


class RecordReader:
    """``MXIndexedRecordIO(PREFIX.idx, PREFIX.rec, "r")``: records by key. The file is opened
    lazily in each process (a DataLoader worker forks or unpickles its own) and read with
    ``pread``, so readers in threads share no file position."""

    def __init__(self, prefix: Path) -> None:
        self.rec_path, self.idx_path = _paths(prefix)
        keys, offsets = _read_index(self.idx_path)
        size = self.rec_path.stat().st_size
        past_end = np.flatnonzero(offsets > size - _RECORD_HEAD.size)
        if past_end.size:
            first = past_end[0]
            raise RecordIOError(
                f"{self.idx_path}: key {keys[first]} points to offset {offsets[first]}, past the end of "
                f"{self.rec_path} ({size} bytes)"
            )
        #: The keys in the ``.idx``'s order (``MXIndexedRecordIO.keys``).
        self.keys = keys
        self._size = size
        order = np.argsort(keys, kind="stable")
        self._sorted_keys, self._sorted_offsets = keys[order], offsets[order]
        repeated = np.flatnonzero(self._sorted_keys[1:] == self._sorted_keys[:-1])
        if repeated.size:
            raise RecordIOError(f"{self.idx_path}: key {self._sorted_keys[repeated[0]]} appears twice")
        self._file: io.FileIO | None = None
        self._pid = -1

    def __len__(self) -> int:
        return len(self.keys)

    def __contains__(self, key: int) -> bool:
        at = np.searchsorted(self._sorted_keys, key)
        return bool(at < len(self._sorted_keys) and self._sorted_keys[at] == key)

    def offset(self, key: int) -> int:
        """Where ``key``'s record starts in the ``.rec``."""
        if key not in self:
            raise RecordIOError(f"{self.idx_path}: no key {key}")
        return int(self._sorted_offsets[np.searchsorted(self._sorted_keys, key)])

    def first_missing(self, start: int, stop: int) -> int | None:
        """The smallest key of ``range(start, stop)`` that the index lacks; ``None`` if it holds
        them all. Counted in the index, so a hostile range costs nothing."""
        low = np.searchsorted(self._sorted_keys, start)
        held = self._sorted_keys[low : low + max(0, min(stop - start, len(self)))]
        gaps = np.flatnonzero(held != np.arange(start, start + len(held)))
        if gaps.size:
            return int(start + gaps[0])
        return None if len(held) >= stop - start else start + len(held)

    def read(self, key: int) -> bytes:
        """``MXIndexedRecordIO.read_idx``: the payload of ``key``'s record, split pieces rejoined."""
        return _read_record(self._fileno(), self.rec_path, self.offset(key), self._size)[0]

    def read_prefixes(self, keys: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
        """The first ``size`` bytes of the payload of each of ``keys`` (rows of a ``len(keys) x
        size`` uint8 array, zeros past a shorter payload) and their lengths (at most ``size``).

        A scan of millions of records' headers: gathered in chunks from a memory map of the
        ``.rec``, as numpy can gather them, where a read per record would take minutes. A record
        that fails a check of ``read``'s, or is split within its first ``size`` bytes, is read as
        ``read`` reads it: the same error, or its rejoined prefix."""
        positions = np.searchsorted(self._sorted_keys, keys)
        absent = np.flatnonzero(self._sorted_keys[np.minimum(positions, len(self) - 1)] != keys)
        if absent.size:
            raise RecordIOError(f"{self.idx_path}: no key {keys[absent[0]]}")
        offsets = self._sorted_offsets[positions]
        prefixes = np.zeros((len(keys), size), dtype=np.uint8)
        lengths = np.zeros(len(keys), dtype=np.int64)
        if not len(keys):
            return prefixes, lengths
        content = np.memmap(self.rec_path, dtype=np.uint8, mode="r", shape=(self._size,))
        columns = np.arange(_RECORD_HEAD.size + size)
        for first in range(0, len(keys), _SCAN_CHUNK):
            at = offsets[first : first + _SCAN_CHUNK]
            raw = content[np.minimum(at[:, None] + columns, self._size - 1)]
            magic, lrecord = np.ascontiguousarray(raw[:, : _RECORD_HEAD.size]).view("<u4").T
            flag, length = lrecord >> 29, lrecord & _LENGTH_MASK
            whole = (flag == _WHOLE) | ((flag == _FIRST) & (length >= size))
            fits = (length + 3) // 4 * 4 <= self._size - at - _RECORD_HEAD.size
            gathered = (magic == MAGIC) & whole & fits
            kept = np.minimum(length[gathered], size)
            rows = first + np.flatnonzero(gathered)
            prefixes[rows] = raw[gathered, _RECORD_HEAD.size :] * (columns[:size] < kept[:, None])
            lengths[rows] = kept
            for row in first + np.flatnonzero(~gathered):
                payload = _read_record(self._fileno(), self.rec_path, int(offsets[row]), self._size, size)[0]
                prefixes[row, : len(payload)] = np.frombuffer(payload, dtype=np.uint8)
                lengths[row] = len(payload)
        return prefixes, lengths

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __getstate__(self) -> dict[str, object]:
        return {**self.__dict__, "_file": None, "_pid": -1}

    def _fileno(self) -> int:
        if self._pid != os.getpid():
            self._file = open(self.rec_path, "rb", buffering=0)  # noqa: SIM115 (kept open for reads)
            self._pid = os.getpid()
        return self._file.fileno()


class RecordDataset(Dataset[tuple[np.ndarray, int]]):
    """An insightface ``PREFIX.rec``/``PREFIX.idx`` as ``(image, label)``: ``HxWx3`` uint8 RGB
    (aligned 112x112 faces, checked) and the integer label. The images are those
    arcface_torch's ``MXFaceDataset`` trains on: keys ``1 .. label[0] - 1`` when key 0 is
    insightface's header, else every key of the index.

    Opening the set checks the header against the index and reads every image's label (its
    record's first bytes only): a label that is no identity of the header is refused here, naming
    its record, since Partial FC would score such an image against no class centre."""

    def __init__(self, prefix: Path) -> None:
        self.reader = RecordReader(prefix)
        header = unpack(self.reader.read(0))[0] if 0 in self.reader else None
        #: The keys of the identity records, ``range(first, end)``; ``None`` without a header.
        self.identity_keys: range | None = None
        if header is not None and header.flag > 0:
            self.identity_keys = self._identity_keys(header)
            self.image_keys = np.arange(1, self.identity_keys.start)
        else:
            self.image_keys = self.reader.keys
        #: Each image's label, in ``image_keys``' order.
        self.labels = self._read_labels()

    def __len__(self) -> int:
        return len(self.image_keys)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        key = int(self.image_keys[index])
        _, image = unpack(self.reader.read(key))
        return decode_face(image, Path(f"{self.reader.rec_path}[{key}]")), int(self.labels[index])

    def _identity_keys(self, header: IRHeader) -> range:
        """Record 0's identity keys, checked to be in the index with the image keys before them:
        a header claiming more records than the index holds is refused before anything is sized
        from it."""
        rec_path, idx_path = self.reader.rec_path, self.reader.idx_path
        labels = header.label
        if header.flag < 2 or not (np.isfinite(labels[1]) and 1 <= labels[0] <= labels[1]):
            raise RecordIOError(
                f"{rec_path}: record 0 is no insightface header: labels {labels}, "
                "expected (first identity key, end key)"
            )
        keys = range(int(labels[0]), int(labels[1]))
        missing = self.reader.first_missing(1, keys.stop)
        if missing is not None:
            raise RecordIOError(
                f"{rec_path}: record 0 declares {keys.start - 1} images and {keys.stop - keys.start} "
                f"identities, keys 1 to {keys.stop - 1}; {idx_path} holds {len(self.reader)} keys, no key "
                f"{missing}"
            )
        return keys

    def _read_labels(self) -> np.ndarray:
        """Every image's label, checked to be an identity of the header (a non-negative integer
        without one)."""
        rec_path = self.reader.rec_path
        prefixes, lengths = self.reader.read_prefixes(self.image_keys, _LABEL_PREFIX.itemsize)
        header = prefixes.view(_LABEL_PREFIX)[:, 0]
        needed = np.where(header["flag"] == 0, _IR_HEADER.size, _LABEL_PREFIX.itemsize)
        short = np.flatnonzero(lengths < needed)
        if short.size:
            row = short[0]
            raise RecordIOError(
                f"{rec_path}: record {self.image_keys[row]} has {lengths[row]} bytes, too few for its "
                f"IRHeader and first label ({needed[row]} bytes)"
            )
        labels = np.where(header["flag"] == 0, header["label"], header["first"]).astype(np.float64)
        classes = len(self.identity_keys) if self.identity_keys is not None else np.inf
        valid = (labels == np.floor(labels)) & (labels >= 0) & (labels < classes)
        wrong = np.flatnonzero(~valid)
        if wrong.size:
            row = wrong[0]
            allowed = (
                "integers >= 0"
                if self.identity_keys is None
                else f"integers in [0, {classes}), record 0's identities"
            )
            raise RecordIOError(
                f"{rec_path}: record {self.image_keys[row]} has label {labels[row]}; labels are {allowed}"
            )
        return labels.astype(np.int64)


def pack_image_folder(folder: Path, prefix: Path) -> tuple[int, int]:
    """Pack an image folder (``ImageFolderDataset``'s identities and order) into
    ``PREFIX.rec``/``PREFIX.idx`` in insightface's layout; returns ``(images, identities)``. The
    images keep their encoded bytes (no second JPEG compression) after a decode that checks each
    is a 112x112 face: a bad file fails the packing, naming it, not a training run."""
    dataset = ImageFolderDataset(folder)
    identity_start: list[int] = []
    with RecordWriter(prefix) as writer:
        for key, (path, label) in enumerate(dataset.samples, start=1):
            if len(identity_start) == label:
                identity_start.append(key)
            image = read_image_bytes(path, dataset.root)
            decode_face(image, path)
            writer.write(key, pack(IRHeader(0, float(label), key, 0), image))
        first_identity = len(dataset) + 1
        identity_end = [*identity_start[1:], first_identity]
        # face2rec2 writes the header after the images and before the identity records.
        end = first_identity + len(identity_start)
        writer.write(0, pack(IRHeader(0, [first_identity, end], 0, 0), b""))
        for key, span in enumerate(zip(identity_start, identity_end, strict=True), start=first_identity):
            writer.write(key, pack(IRHeader(0, list(span), key, 0), b""))
    return len(dataset), len(identity_start)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.training.recordio", description=__doc__.splitlines()[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    packing = commands.add_parser(
        "pack", help="pack an image folder (a folder per identity) into PREFIX.rec/.idx"
    )
    packing.add_argument("folder", type=Path)
    packing.add_argument("prefix", type=Path, help="output prefix: PREFIX.rec and PREFIX.idx")
    args = parser.parse_args(argv)
    try:
        images, identities = pack_image_folder(args.folder, args.prefix)
    except (TrainingDataError, ImageDecodeError) as error:
        parser.exit(1, f"error: {error}\n")
    print(f"packed {images} images of {identities} identities into {args.prefix}.rec and {args.prefix}.idx")
    return 0


def _paths(prefix: Path) -> tuple[Path, Path]:
    """``PREFIX.rec`` and ``PREFIX.idx``; a prefix given as the ``.rec`` itself works too."""
    prefix = Path(prefix)
    stem = prefix.with_suffix("") if prefix.suffix == ".rec" else prefix
    return Path(f"{stem}.rec"), Path(f"{stem}.idx")


def _record_head(flag: int, length: int) -> bytes:
    return _RECORD_HEAD.pack(MAGIC, flag << 29 | length)


def _read_index(idx_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The keys and offsets of an ``.idx`` (``key<TAB>offset`` lines, as ``MXIndexedRecordIO``
    parses them), in file order."""
    keys, offsets = [], []
    with open(idx_path, encoding="ascii", errors="replace") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            fields = _INDEX_LINE.fullmatch(line.strip())
            if fields is None:
                raise RecordIOError(
                    f"{idx_path}:{number}: expected 'key<TAB>offset', got {line.strip()[:80]!r} (integers of "
                    "at most 18 digits)"
                )
            keys.append(int(fields[1]))
            offsets.append(int(fields[2]))
    return np.array(keys, dtype=np.int64), np.array(offsets, dtype=np.int64)


def _read_record(
    fileno: int, rec_path: Path, offset: int, file_size: int, limit: int | None = None
) -> tuple[bytes, int]:
    """The payload of the record at ``offset`` (its split pieces rejoined; its first ``limit``
    bytes only) and the next record's offset, checked as dmlc's ``RecordIOReader::NextRecord``
    checks it, and a split record's flags in order. Each piece's declared length is checked
    against the bytes that follow it in the file (``file_size``) before it is read."""
    pieces = []
    kept = 0
    start = offset
    while True:
        head = os.pread(fileno, _RECORD_HEAD.size, offset)
        if len(head) < _RECORD_HEAD.size:
            raise _truncated(fileno, rec_path, start)
        magic, lrecord = _RECORD_HEAD.unpack(head)
        if magic != MAGIC:
            raise RecordIOError(
                f"{rec_path}: bad magic 0x{magic:08x} at offset {offset} (expected 0x{MAGIC:08x}): not a "
                "RecordIO file, or its .idx points inside a record"
            )
        flag, length = lrecord >> 29, lrecord & _LENGTH_MASK
        expected = (_WHOLE, _FIRST) if offset == start else (_MIDDLE, _LAST)
        if flag not in expected:
            where = "a record's start" if offset == start else "the continuation of a split record"
            raise RecordIOError(f"{rec_path}: continuation flag {flag} at offset {offset}, {where}")
        padded = (length + 3) & ~3
        following = file_size - offset - _RECORD_HEAD.size
        if padded > following:
            raise RecordIOError(
                f"{_truncated(fileno, rec_path, start)}: it declares {length} bytes at offset {offset}, "
                f"{following} follow"
            )
        if pieces:
            kept += len(_MAGIC_BYTES)  # rejoined, the magic number precedes this piece
        wanted = length if limit is None else min(length, max(limit - kept, 0))
        data = os.pread(fileno, wanted, offset + _RECORD_HEAD.size)
        if len(data) < wanted:
            raise _truncated(fileno, rec_path, start)
        pieces.append(data)
        kept += wanted
        offset += _RECORD_HEAD.size + padded
        if flag in (_WHOLE, _LAST) or (limit is not None and kept >= limit):
            return _MAGIC_BYTES.join(pieces)[:limit], offset


def _truncated(fileno: int, rec_path: Path, offset: int) -> RecordIOError:
    size = os.fstat(fileno).st_size
    return RecordIOError(
        f"{rec_path}: truncated: the record at offset {offset} runs past the end ({size} bytes)"
    )


if __name__ == "__main__":
    sys.exit(main())
