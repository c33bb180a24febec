"""The feature cache: one SQLite file of detections and embeddings per (config, image) key.

SQLite in WAL mode lets several processes (a sweep run in parallel) read and write the same
directory at once: writers queue on the busy timeout instead of failing, readers never block,
and each write is one statement, one short transaction (``_put`` says why no longer), so a killed
run loses at most the rows in flight.
Every row carries a checksum of its payload; a row that fails it is dropped and recomputed.
A cache that cannot be created, opened or written is refused on opening, with its path and the
remedies; one that can no longer be written mid-run (a full disk) stops caching, and the run goes on.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np

if TYPE_CHECKING:
    from bench.detectors.base import Face

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Part of every table's name: a change to a payload's encoding bumps it, so rows written in
#: an older format are never read as the new one (they are simply not found).
SCHEMA_VERSION = 1
DETECTIONS = f"detections_v{SCHEMA_VERSION}"
EMBEDDINGS = f"embeddings_v{SCHEMA_VERSION}"

#: Keys per ``IN (...)`` query: far fewer round trips than one query per image, and under
#: the 999 bound parameters older SQLite builds allow.
_CHUNK = 500
#: Rows per ``INSERT``: 4 parameters each, under the same bound.
_ROWS_PER_INSERT = 240
#: How long a writer waits for another process's transaction before giving up.
_BUSY_TIMEOUT_S = 60.0
#: Creating a new file races other processes opening it, and switching it to WAL can report
#: "database is locked" without waiting on the busy timeout; these attempts cover that window.
_SETUP_ATTEMPTS = 20
#: Arrays are stored as raw little-endian float32, whatever the machine.
_FLOAT32 = np.dtype("<f4")
#: SQLite's primary result codes for a file it cannot write to: a full disk (or file system), a
#: read-only file or folder, a failed write in the OS, a file it cannot create or open.
_UNWRITABLE = frozenset(
    {sqlite3.SQLITE_FULL, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN}
)
#: What to do about a cache that cannot be used, in every message that says so.
_REMEDY = (
    "run with cache=off to compute everything without it, or set BENCH_CACHE_DIR=<another folder> "
    "(or cache.dir=<another folder>)"
)


@dataclass(frozen=True)
class CachedDetection:
    """Every face the detector found in one image. A non-empty ``error`` says the image could
    not be decoded (and why): that is cached too, so a re-run does not try again. ``shape`` is
    the image's ``(height, width)``: face selection and the centre-crop fallback need it, and a
    re-run should not decode the image to learn it."""

    faces: list[Face]
    error: str = ""
    shape: tuple[int, int] = (0, 0)


def _checksum(payload: bytes) -> bytes:
    return hashlib.blake2b(payload, digest_size=16).digest()


def _encode_detection(entry: CachedDetection) -> bytes:
    # A one-line JSON header (the error, and each face's score, landmark names and whether it
    # has landmarks) and then every face's box and landmarks as raw float32: exact, compact
    # and about twice as quick to read back as the same floats written as JSON text.
    header = {
        "error": entry.error,
        "shape": [int(entry.shape[0]), int(entry.shape[1])],
        "faces": [
            [float(face.score), list(face.landmark_names), face.landmarks is not None] for face in entry.faces
        ],
    }
    arrays = [
        array.ravel() for face in entry.faces for array in (face.box, face.landmarks) if array is not None
    ]
    body = np.concatenate([np.zeros(0, _FLOAT32), *arrays]).astype(_FLOAT32)
    return json.dumps(header, separators=(",", ":")).encode() + b"\n" + body.tobytes()


def _decode_detection(payload: bytes) -> CachedDetection:
    # Imported here: importing bench.detectors loads every detector backend (seconds), which
    # a process that only handles embeddings should not pay.
    from bench.detectors.base import Face

    header, _, body = payload.partition(b"\n")  # compact JSON never holds a raw newline
    data = json.loads(header)
    if not isinstance(data["error"], str):
        raise TypeError(f"error is {type(data['error']).__name__}, not str")
    values = _floats(body)
    faces: list[Face] = []
    offset = 0
    for score, names, has_landmarks in data["faces"]:
        end = offset + 4 + (2 * len(names) if has_landmarks else 0)
        landmarks = values[offset + 4 : end] if has_landmarks else None
        faces.append(Face(values[offset : offset + 4], float(score), landmarks, tuple(names)))
        offset = end
    if offset != len(values):
        raise ValueError(f"{len(values)} values stored for faces that take {offset}")
    height, width = (int(side) for side in data["shape"])
    return CachedDetection(faces=faces, error=data["error"], shape=(height, width))


def _encode_embedding(vector: np.ndarray) -> bytes:
    array = np.asarray(vector)
    if array.ndim != 1:
        raise ValueError(f"an embedding must be one (D,) row, not shape {array.shape}")
    return array.astype(_FLOAT32).tobytes()


def _floats(data: bytes) -> np.ndarray:
    """Stored little-endian float32 values as a native, writable array."""
    if len(data) % _FLOAT32.itemsize:
        raise ValueError(f"{len(data)} bytes are not a whole number of float32 values")
    return np.frombuffer(data, dtype=_FLOAT32).astype(np.float32)


def _unpack(payload: object, checksum: object, decode: Callable[[bytes], T]) -> T:
    """The decoded payload; raises ``ValueError``, ``KeyError`` or ``TypeError`` if the row
    is corrupted."""
    if not isinstance(payload, bytes) or checksum != _checksum(payload):
        raise ValueError("checksum mismatch")
    return decode(payload)


class CorruptCacheError(RuntimeError):
    """The cache file is not a readable SQLite database (overwritten, truncated). SQLite's own
    message names neither the file nor a way out; this says both, and leaves the file alone: it
    is the user's to delete, as it may hold hours of computed features."""

    def __init__(self, path: Path, cause: sqlite3.DatabaseError) -> None:
        super().__init__(
            f"The feature cache {path} is damaged and cannot be opened ({cause}). Run with cache=off "
            f"to compute everything without it, or delete {path} (a new one is built) or point "
            "cache.dir elsewhere."
        )


class CacheUnavailableError(RuntimeError):
    """The cache folder cannot be created, or its database opened or written. Raised on opening,
    before any work: SQLite's and the OS's own messages name neither the path nor a way out."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"The feature cache cannot be used: {path} {problem}. Either {_REMEDY}.")


def _make_folder(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        problem = (
            "is a file, not a folder" if directory.is_file() else f"cannot be created ({error.strerror})"
        )
        raise CacheUnavailableError(directory, problem) from error
    # SQLite creates its journal files beside the database: without this, "unable to open database file".
    if not os.access(directory, os.W_OK | os.X_OK):
        raise CacheUnavailableError(directory, "is a folder this user cannot write to")


def _unwritable(error: sqlite3.OperationalError) -> bool:
    # An extended code (SQLITE_READONLY_DBMOVED, SQLITE_IOERR_WRITE, ...) holds its primary in the low byte.
    return (error.sqlite_errorcode & 0xFF) in _UNWRITABLE


class FeatureCache:
    """Detections and embeddings keyed by ``(config key, image digest)``.

    Safe to share between threads (one connection behind a lock) and between processes (WAL).
    Lookups return hits only; a missing key is simply absent from the result. Opening checks that
    the folder and the database can be written (``CacheUnavailableError`` if not).
    """

    #: The database's name in its folder.
    FILE = "features.sqlite"

    def __init__(self, directory: Path) -> None:
        directory = Path(directory)
        _make_folder(directory)
        self.path = directory / self.FILE
        #: Entries found corrupted since opening; each was reported as a miss (and deleted, while
        #: the cache can be written).
        self.corrupted = 0
        #: Why writes stopped (SQLite's message); empty while the cache is written to.
        self.write_failure = ""
        self._lock = threading.Lock()
        try:
            self._connection = sqlite3.connect(
                self.path, timeout=_BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
        except sqlite3.OperationalError as error:
            raise CacheUnavailableError(self.path, f"cannot be opened ({error})") from error
        try:
            self._set_up()
        except BaseException as error:
            self._connection.close()
            # An OperationalError (read-only, full, locked past every attempt) is a DatabaseError
            # too, but says the file cannot be used, not that it is damaged.
            if isinstance(error, sqlite3.OperationalError):
                raise CacheUnavailableError(self.path, f"cannot be opened for writing ({error})") from error
            if isinstance(error, sqlite3.DatabaseError):
                raise CorruptCacheError(self.path, error) from error
            raise

    def _set_up(self) -> None:
        for attempt in range(_SETUP_ATTEMPTS):
            try:
                self._connection.execute("PRAGMA journal_mode=WAL")
                # Safe from corruption in WAL mode; only a power cut can lose the last commits.
                self._connection.execute("PRAGMA synchronous=NORMAL")
                with self._transaction():
                    for table in (DETECTIONS, EMBEDDINGS):
                        self._connection.execute(
                            f"CREATE TABLE IF NOT EXISTS {table} (config TEXT NOT NULL, "
                            "image TEXT NOT NULL, payload BLOB NOT NULL, checksum BLOB NOT NULL, "
                            "PRIMARY KEY (config, image)) WITHOUT ROWID"
                        )
                    # Once the tables exist nothing above writes; this write is what proves the file
                    # writable (a read-only file or folder) before any work is done.
                    self._connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or attempt == _SETUP_ATTEMPTS - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        # IMMEDIATE takes the write lock up front, so a busy database is waited for here
        # rather than failing mid-transaction when a read would have to become a write.
        self._connection.execute("BEGIN IMMEDIATE")
        try:
            yield
            self._connection.execute("COMMIT")
        except BaseException:
            if self._connection.in_transaction:
                self._connection.execute("ROLLBACK")
            raise

    def _get(
        self, table: str, config: str, digests: Sequence[str], decode: Callable[[bytes], T]
    ) -> dict[str, T]:
        wanted = list(dict.fromkeys(digests))
        rows: list[tuple[str, object, object]] = []
        with self._lock:
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                rows += self._connection.execute(
                    # Cast, so a damaged row of another type still reads as bytes (and fails its check).
                    f"SELECT image, CAST(payload AS BLOB), CAST(checksum AS BLOB) FROM {table} "
                    f"WHERE config = ? AND image IN ({','.join('?' * len(chunk))})",
                    (config, *chunk),
                ).fetchall()
        found: dict[str, T] = {}
        corrupted: list[tuple[str, object, object]] = []
        for image, payload, checksum in rows:
            try:
                found[image] = _unpack(payload, checksum, decode)
            except (ValueError, KeyError, TypeError) as error:
                log.warning(
                    "Dropping corrupted %s entry (config %s, image %s): %s", table, config, image, error
                )
                corrupted.append((image, payload, checksum))
        if corrupted:
            self._drop(table, config, corrupted)
        return found

    def _drop(self, table: str, config: str, rows: list[tuple[str, object, object]]) -> None:
        # Matching the bad payload too keeps a good row another process has just written. Each
        # DELETE is its own transaction, for the reason ``_put`` gives.
        self._write(
            lambda: self._connection.executemany(
                f"DELETE FROM {table} WHERE config = ? AND image = ? "
                "AND CAST(payload AS BLOB) IS ? AND CAST(checksum AS BLOB) IS ?",
                [(config, *row) for row in rows],
            )
        )
        with self._lock:
            self.corrupted += len(rows)

    def _write(self, write: Callable[[], object]) -> None:
        """Run ``write`` under the lock, unless writes have stopped. A file that can no longer be
        written (a full disk, a read-only file) stops them, with one warning: the run keeps and
        scores what it computes, only not in the cache, rather than losing it all to a crash."""
        with self._lock:
            if self.write_failure:
                return
            try:
                write()
            except sqlite3.OperationalError as error:
                if not _unwritable(error):
                    raise
                self.write_failure = str(error)
                log.warning(
                    "The feature cache %s cannot be written (%s): this run stops caching and goes on, "
                    "scoring everything it computes. Free space or fix the folder, or %s.",
                    self.path,
                    error,
                    _REMEDY,
                )

    def _put(self, table: str, config: str, payloads: Mapping[str, bytes]) -> None:
        """Each chunk of rows is one ``INSERT`` statement, which SQLite runs as one transaction
        inside one call that releases the GIL. An explicit ``BEGIN ... COMMIT`` around several
        statements would hold the write lock while Python runs between them, and a thread in a C
        call that keeps the GIL (dlib's networks: 1-20 s a call) could then stall the commit past
        every other process's busy timeout ("database is locked", seen with two runs on one cache)."""
        rows = [(config, image, payload, _checksum(payload)) for image, payload in payloads.items()]

        def insert() -> None:
            for start in range(0, len(rows), _ROWS_PER_INSERT):
                chunk = rows[start : start + _ROWS_PER_INSERT]
                self._connection.execute(
                    f"INSERT OR REPLACE INTO {table} (config, image, payload, checksum) VALUES "
                    + ", ".join(["(?, ?, ?, ?)"] * len(chunk)),
                    [value for row in chunk for value in row],
                )

        self._write(insert)

    def get_detections(self, config: str, digests: Sequence[str]) -> dict[str, CachedDetection]:
        """The cached detections among ``digests`` (image digests) for this config key."""
        return self._get(DETECTIONS, config, digests, _decode_detection)

    def put_detections(self, config: str, entries: Mapping[str, CachedDetection]) -> None:
        """Store (or replace) detections by image digest (``_put``)."""
        self._put(DETECTIONS, config, {image: _encode_detection(entry) for image, entry in entries.items()})

    def get_embeddings(self, config: str, digests: Sequence[str]) -> dict[str, np.ndarray]:
        """The cached ``(D,)`` float32 embeddings among ``digests`` for this config key."""
        return self._get(EMBEDDINGS, config, digests, _floats)

    def put_embeddings(self, config: str, entries: Mapping[str, np.ndarray]) -> None:
        """Store (or replace) embeddings, as float32, by image digest (``_put``)."""
        self._put(EMBEDDINGS, config, {image: _encode_embedding(vector) for image, vector in entries.items()})

    def close(self) -> None:
        with self._lock:
            self._connection.close()

    def __enter__(self) -> FeatureCache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
