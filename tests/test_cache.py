"""The feature cache: exact round trips, key isolation, corruption handling and concurrent writers."""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench.cache import CachedDetection, FeatureCache, bytes_digest, config_key, file_digest
from bench.cache.store import CorruptCacheError

# bench.detectors (and so Face) is imported inside the tests that need it: the spawned writer
# processes import this module, and loading every detector backend would take them seconds.

FOUR_POINTS = ("left_eye", "right_eye", "nose", "mouth_center")
DIM = 128


def _face(landmarks: np.ndarray | None, names: tuple[str, ...] | None = None) -> Any:
    from bench.detectors.base import FIVE_POINTS, Face

    rng = np.random.default_rng(len(names or ()))
    box = rng.uniform(0, 250, 4).astype(np.float32)
    score = float(np.float32(rng.uniform()))
    return Face(box=box, score=score, landmarks=landmarks, landmark_names=names or FIVE_POINTS)


def _points(count: int) -> np.ndarray:
    return np.random.default_rng(count).uniform(0, 250, (count, 2)).astype(np.float32)


def _assert_same(got: CachedDetection, want: CachedDetection) -> None:
    assert got.error == want.error and got.shape == want.shape
    assert len(got.faces) == len(want.faces)
    for a, b in zip(got.faces, want.faces, strict=True):
        assert a.box.dtype == np.float32 and np.array_equal(a.box, b.box)
        assert a.score == b.score
        assert a.landmark_names == b.landmark_names
        if b.landmarks is None:
            assert a.landmarks is None
        else:
            assert a.landmarks is not None and a.landmarks.dtype == np.float32
            assert np.array_equal(a.landmarks, b.landmarks)


def _vector(key: int) -> np.ndarray:
    return np.random.default_rng(key).standard_normal(DIM).astype(np.float32)


def _tamper(path: Path, sql: str, params: tuple[object, ...]) -> None:
    with sqlite3.connect(path) as connection:
        tables = [
            name
            for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if not name.startswith("sqlite_")
        ]
        for table in tables:
            connection.execute(sql.format(table=table), params)
    connection.close()


def test_detections_round_trip_exactly(tmp_path: Path) -> None:
    entries = {
        "five": CachedDetection([_face(_points(5)), _face(_points(5))], shape=(250, 320)),
        "four": CachedDetection([_face(_points(4), FOUR_POINTS)]),
        "none": CachedDetection([_face(None)]),
        "empty": CachedDetection([]),
        "error": CachedDetection([], error="cannot decode: truncated JPEG"),
    }
    with FeatureCache(tmp_path) as cache:
        cache.put_detections("cfg", entries)
        got = cache.get_detections("cfg", [*entries, "missing"])
    assert set(got) == set(entries)
    for key, entry in entries.items():
        _assert_same(got[key], entry)


def test_embeddings_round_trip_exactly(tmp_path: Path) -> None:
    entries = {f"img{i}": _vector(i) for i in range(10)}
    with FeatureCache(tmp_path) as cache:
        cache.put_embeddings("cfg", entries)
        got = cache.get_embeddings("cfg", ["missing", *entries])
    assert set(got) == set(entries)
    for key, vector in entries.items():
        assert got[key].dtype == np.float32 and got[key].shape == (DIM,)
        assert np.array_equal(got[key], vector)


def test_embedding_must_be_one_row(tmp_path: Path) -> None:
    with FeatureCache(tmp_path) as cache, pytest.raises(ValueError, match="one"):
        cache.put_embeddings("cfg", {"img": np.zeros((2, DIM), np.float32)})


def test_config_keys_isolate_entries(tmp_path: Path) -> None:
    with FeatureCache(tmp_path) as cache:
        cache.put_embeddings("a", {"img": _vector(1)})
        cache.put_embeddings("b", {"img": _vector(2)})
        cache.put_detections("a", {"img": CachedDetection([], error="x")})
        assert np.array_equal(cache.get_embeddings("a", ["img"])["img"], _vector(1))
        assert np.array_equal(cache.get_embeddings("b", ["img"])["img"], _vector(2))
        assert cache.get_embeddings("c", ["img"]) == {}
        assert cache.get_detections("b", ["img"]) == {}


def test_many_lookups_are_chunked(tmp_path: Path) -> None:
    entries = {f"img{i}": np.full(4, i, np.float32) for i in range(2_345)}
    with FeatureCache(tmp_path) as cache:
        cache.put_embeddings("cfg", entries)
        got = cache.get_embeddings("cfg", [*entries, *entries])
    assert len(got) == len(entries)
    assert all(got[key][0] == value[0] for key, value in entries.items())


def test_config_key_ignores_order() -> None:
    a = {"detector": {"name": "yunet", "size": [320, 320]}, "seed": 0, "path": Path("/x")}
    b = {"seed": 0, "path": Path("/x"), "detector": {"size": [320, 320], "name": "yunet"}}
    assert config_key(a) == config_key(b)
    assert config_key(a) != config_key({**a, "seed": 1})
    assert config_key(a) != config_key({**a, "detector": {"name": "yunet", "size": [320, 240]}})


def test_file_and_bytes_digests_agree(tmp_path: Path) -> None:
    data = np.random.default_rng(0).bytes(200_000)
    (tmp_path / "image.jpg").write_bytes(data)
    assert file_digest(tmp_path / "image.jpg") == bytes_digest(data)
    assert bytes_digest(data) != bytes_digest(data[:-1])
    with pytest.raises(OSError):
        file_digest(tmp_path / "missing.jpg")


def test_corrupted_entries_are_dropped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with FeatureCache(tmp_path) as cache:
        cache.put_embeddings("cfg", {"good": _vector(0), "bad": _vector(1)})
        cache.put_detections("cfg", {"good": CachedDetection([]), "bad": CachedDetection([])})
        cache.put_detections("cfg", {"undecodable": CachedDetection([])})
        _tamper(cache.path, "UPDATE {table} SET payload = X'00' || payload WHERE image = ?", ("bad",))
        junk = b'{"faces": 3}'
        _tamper(
            cache.path,
            "UPDATE {table} SET payload = ?, checksum = ? WHERE image = ?",
            (junk, hashlib.blake2b(junk, digest_size=16).digest(), "undecodable"),
        )
        with caplog.at_level(logging.WARNING, logger="bench.cache"):
            embeddings = cache.get_embeddings("cfg", ["good", "bad"])
            detections = cache.get_detections("cfg", ["good", "bad", "undecodable"])
        assert set(embeddings) == {"good"} and set(detections) == {"good"}
        assert cache.corrupted == 3
        assert sum("bad" in record.getMessage() for record in caplog.records) == 2
        assert any("undecodable" in record.getMessage() for record in caplog.records)
        # Deleted, so a second lookup is a plain miss, and a rewrite is read again.
        assert cache.get_embeddings("cfg", ["bad"]) == {}
        assert cache.corrupted == 3
        cache.put_embeddings("cfg", {"bad": _vector(1)})
        assert np.array_equal(cache.get_embeddings("cfg", ["bad"])["bad"], _vector(1))


def test_reopened_cache_keeps_entries(tmp_path: Path) -> None:
    with FeatureCache(tmp_path / "cache") as cache:
        cache.put_embeddings("cfg", {"img": _vector(3)})
        cache.put_detections("cfg", {"img": CachedDetection([_face(_points(5))])})
    with FeatureCache(tmp_path / "cache") as cache:
        assert np.array_equal(cache.get_embeddings("cfg", ["img"])["img"], _vector(3))
        _assert_same(cache.get_detections("cfg", ["img"])["img"], CachedDetection([_face(_points(5))]))


def _damaged_cache(directory: Path, damage: str) -> bytes:
    """A cache file overwritten with garbage, or cut to half its size; returns its bytes."""
    directory.mkdir()
    path = directory / "features.sqlite"
    if damage == "garbage":
        path.write_bytes(b"not a database " * 1000)
    else:
        with FeatureCache(directory) as cache:
            cache.put_embeddings("cfg", {f"img{key}": _vector(key) for key in range(400)})
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return path.read_bytes()


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_damaged_cache_file_names_itself_and_the_remedies(tmp_path: Path, damage: str) -> None:
    directory = tmp_path / "cache"
    content = _damaged_cache(directory, damage)
    path = directory / "features.sqlite"
    with pytest.raises(CorruptCacheError) as raised:
        FeatureCache(directory)
    message = str(raised.value)
    assert str(path) in message
    assert "cache=off" in message and "cache.dir" in message and "delete" in message
    assert isinstance(raised.value.__cause__, sqlite3.DatabaseError)
    assert path.read_bytes() == content  # the user's file is left as it was


def test_writer_thread_and_reader_share_a_cache(tmp_path: Path) -> None:
    with FeatureCache(tmp_path) as cache:

        def write() -> None:
            for batch in range(20):
                cache.put_embeddings("cfg", {f"img{batch}_{i}": _vector(i) for i in range(50)})

        writer = threading.Thread(target=write)
        writer.start()
        while writer.is_alive():
            cache.get_embeddings("cfg", [f"img{b}_{i}" for b in range(20) for i in range(50)])
        writer.join()
        assert (
            len(cache.get_embeddings("cfg", [f"img{b}_{i}" for b in range(20) for i in range(50)])) == 1_000
        )


def _write_embeddings(directory: Path, keys: range, barrier: Any) -> None:
    """One writer process: opens the (new) cache at the same moment as the other, then writes
    in small batches so the two processes' transactions interleave."""
    barrier.wait()
    with FeatureCache(directory) as cache:
        for start in range(0, len(keys), 100):
            cache.put_embeddings("cfg", {f"img{key}": _vector(key) for key in keys[start : start + 100]})


def test_two_processes_write_concurrently(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    writers = [
        context.Process(target=_write_embeddings, args=(tmp_path, keys, barrier))
        for keys in (range(0, 2_000), range(1_000, 3_000))
    ]
    start = time.perf_counter()
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=120)
    assert [writer.exitcode for writer in writers] == [0, 0], time.perf_counter() - start
    with FeatureCache(tmp_path) as cache:
        got = cache.get_embeddings("cfg", [f"img{key}" for key in range(3_000)])
        assert cache.corrupted == 0
    assert len(got) == 3_000
    assert all(np.array_equal(got[f"img{key}"], _vector(key)) for key in range(3_000))
    with sqlite3.connect(tmp_path / "features.sqlite") as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    connection.close()
