"""Hostile options and cache folders (issue 25, defects 13 and 14): an integer option written in
other digits or outside the data set's range, and a feature cache that cannot be created, opened or
written, stop the job with the option or path and the remedy before its MLflow run opens; a cache
that fills up mid-run stops caching, and the run's result is the one it would have had without it."""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest

from bench.cache import CacheUnavailableError
from bench.cli import compose_config
from bench.config import ConfigValueError, to_bench_config
from bench.data import ProtocolError, load_dataset

from .cli import run_bench
from .cli import store as store
from .conftest import LFW_SAMPLES, bench_config, run_benchmark

#: Eight LFW pairs in two folds, in batches of four on one thread: a cheap run whose cache writes
#: come in a fixed order.
TINY_RUN = [
    "dataset.folds=[0,1]",
    "dataset.pairs_per_fold=4",
    "pipeline.overlap=false",
    "hardware.num_workers=0",
    "hardware.batch_size=4",
    "hardware.embed_batch_size=4",
]
#: Pages a new cache takes: SQLite's header page and the root page of each of its two tables.
NEW_CACHE_PAGES = 3


def _no_runs(uri: str) -> bool:
    """Whether the SQLite MLflow store at ``uri`` holds no run (read directly: an MLflow client
    would first create the store's tables, which takes seconds)."""
    database = Path(uri.removeprefix("sqlite:///"))
    if not database.exists():
        return True
    with closing(sqlite3.connect(database)) as connection:
        return connection.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 0


# Defect 13: integer options.


@pytest.mark.parametrize(
    ("override", "option", "written"),
    [
        ("dataset.folds=['٣']", "dataset.folds", "٣"),  # an Arabic-Indic three: int() reads 3
        ("hardware.batch_size='٣٢'", "hardware.batch_size", "٣٢"),
        ("stress.seed='１'", "stress.seed", "１"),  # noqa: RUF001  (a fullwidth one, on purpose)
        ("dataset.pairs_per_fold=' 60'", "dataset.pairs_per_fold", " 60"),
        ("hardware.embed_batch_size='1_000'", "hardware.embed_batch_size", "1_000"),
        ("hardware={batch_size: '٣'}", "hardware.batch_size", "٣"),
    ],
)
def test_an_integer_option_takes_ascii_digits_only(override: str, option: str, written: str) -> None:
    with pytest.raises(ConfigValueError) as error:
        compose_config([override])
    message = str(error.value)
    assert option in message and repr(written) in message and "ASCII digits 0-9" in message, message


def test_an_integer_written_in_ascii_digits_still_composes() -> None:
    config = to_bench_config(compose_config(["dataset.folds=['3']", "hardware.batch_size='+8'"]))
    assert config.dataset.folds == [3] and config.hardware.batch_size == 8


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("dataset.folds=[99999999999999999999]", r"dataset.folds must lie in \[0, 9\] \(lfw has 10 folds\)"),
        ("dataset.folds=[0,10]", r"dataset.folds must lie in \[0, 9\] \(lfw has 10 folds\), got \[0, 10\]"),
        ("dataset.folds=[-1]", r"dataset.folds must lie in \[0, 9\]"),
        ("dataset=lfw_aligned dataset.folds=[10]", r"dataset.folds must lie in \[0, 9\] \(lfw_aligned has"),
        (
            "dataset=lfw dataset.pairs=lfw_pairs_dev_test dataset.folds=[1]",
            r"dataset.folds must lie in \[0, 0\] \(lfw has 1 fold\)",
        ),
        ("dataset=bin dataset.path=/data/x.bin dataset.folds=[12]", r"dataset.folds must lie in \[0, 9\]"),
        (
            "dataset=pairs dataset.root=/data dataset.pairs_csv=/data/p.csv dataset.folds=[-3]",
            r"dataset.folds must be >= 0",
        ),
        ("hardware.detect_threads=99999999999999999999", r"hardware.detect_threads must be at most 1024"),
        ("hardware.embed_threads=4096", r"hardware.embed_threads must be at most 1024, got 4096"),
        ("pipeline.embed_workers=99999999999999999999", r"pipeline.embed_workers must be at most 1024"),
        ("hardware.num_workers=99999999999999999999", r"hardware.num_workers must be at most 1024"),
    ],
)
def test_an_integer_option_out_of_its_range_fails_when_the_config_is_typed(
    override: str, message: str
) -> None:
    with pytest.raises(ConfigValueError, match=message):
        to_bench_config(compose_config(override.split()))


@pytest.mark.parametrize(
    ("fold", "problem"),
    [
        ("٣", "fold must be written in ASCII digits 0-9, got '٣'"),
        # Scored as an int64 array: without the check, an OverflowError once every image is done.
        ("99999999999999999999", "fold must be at most 9223372036854775807, got '99999999999999999999'"),
    ],
)
def test_a_csv_fold_column_takes_ascii_digits_within_int64(
    tmp_path: Path, lfw_root: Path, fold: str, problem: str
) -> None:
    same = [f"{name}/{name}_000{i}.jpg" for name in ("George_W_Bush", "Colin_Powell") for i in (1, 2)]
    rows = [
        f"{same[0]},{same[1]},1,{fold}",
        f"{LFW_SAMPLES[0]},{LFW_SAMPLES[1]},0,{fold}",
        f"{same[2]},{same[3]},1,0",
        f"{LFW_SAMPLES[4]},{LFW_SAMPLES[5]},0,0",
    ]
    protocol = tmp_path / "pairs.csv"
    protocol.write_text("path_a,path_b,label,fold\n" + "\n".join(rows) + "\n")
    config = bench_config("dataset=pairs", f"dataset.root={lfw_root}", f"dataset.pairs_csv={protocol}")
    with pytest.raises(ProtocolError) as error:
        load_dataset(config.dataset)
    assert str(error.value) == f"{protocol}:2: {problem}"


def test_a_fold_in_other_digits_stops_the_cli_before_its_mlflow_run(
    tmp_path: Path,
    store: tuple[str, dict[str, str]],
) -> None:
    uri, env = store
    completed = run_bench(*TINY_RUN, "dataset.folds=['٣']", f"hydra.run.dir={tmp_path / 'out'}", env=env)
    assert completed.returncode != 0
    assert "dataset.folds" in completed.stderr and "ASCII digits 0-9" in completed.stderr, completed.stderr
    assert _no_runs(uri)


# Defect 14: a cache that cannot be used.


def test_a_cache_dir_naming_a_file_stops_the_cli_before_its_mlflow_run(
    tmp_path: Path,
    store: tuple[str, dict[str, str]],
) -> None:
    uri, env = store
    not_a_folder = tmp_path / "cache"
    not_a_folder.write_text("a file where the cache folder should be\n")
    env = {**env, "BENCH_CACHE_DIR": str(not_a_folder)}
    completed = run_bench(*TINY_RUN, f"hydra.run.dir={tmp_path / 'out'}", env=env)
    assert completed.returncode != 0
    for text in (str(not_a_folder), "is a file, not a folder", "cache=off", "BENCH_CACHE_DIR="):
        assert text in completed.stderr, completed.stderr
    assert "CacheUnavailableError: The feature cache cannot be used" in completed.stderr
    assert _no_runs(uri)
    assert not_a_folder.read_text() == "a file where the cache folder should be\n"


def test_a_cache_dir_below_a_file_is_refused_with_its_path(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    folder = tmp_path / "file" / "cache"
    with pytest.raises(CacheUnavailableError) as error:
        run_benchmark(*TINY_RUN, f"cache.dir={folder}")
    message = str(error.value)
    assert str(folder) in message and "cannot be created" in message and "cache=off" in message, message


@pytest.mark.skipif(
    os.geteuid() == 0, reason="root writes into a read-only folder; the read-only database test covers root"
)
def test_a_read_only_cache_folder_is_refused_with_its_path(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(CacheUnavailableError) as error:
            run_benchmark(*TINY_RUN, f"cache.dir={folder}")
    finally:
        folder.chmod(0o755)
    message = str(error.value)
    assert str(folder) in message and "cannot write to" in message and "cache=off" in message, message


@pytest.fixture()
def sqlite_connections(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """Runs a PRAGMA on every SQLite connection opened from now on (only the feature cache opens
    one in these runs): SQLite itself then refuses writes, as a full disk or a read-only file does."""

    def with_pragma(pragma: str) -> None:
        connect = sqlite3.connect

        def connect_with_pragma(*args: object, **kwargs: object) -> sqlite3.Connection:
            connection = connect(*args, **kwargs)  # type: ignore[arg-type]
            connection.execute(f"PRAGMA {pragma}")
            return connection

        monkeypatch.setattr(sqlite3, "connect", connect_with_pragma)

    return with_pragma


def test_a_read_only_cache_database_is_refused_before_any_work(
    tmp_path: Path, sqlite_connections: Callable[[str], None]
) -> None:
    sqlite_connections("query_only = ON")
    with pytest.raises(CacheUnavailableError) as error:
        run_benchmark(*TINY_RUN, f"cache.dir={tmp_path / 'cache'}")
    message = str(error.value)
    for text in (str(tmp_path / "cache" / "features.sqlite"), "readonly", "cache=off", "BENCH_CACHE_DIR="):
        assert text in message, message


def test_a_cache_that_fills_up_mid_run_stops_caching_and_changes_no_result(
    tmp_path: Path,
    sqlite_connections: Callable[[str], None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    reference = run_benchmark(*TINY_RUN, "cache=off")
    # Room for the first batch's detections, not for its embeddings: the disk "fills" mid-run.
    sqlite_connections(f"max_page_count = {NEW_CACHE_PAGES + 2}")
    database = tmp_path / "cache" / "features.sqlite"
    with caplog.at_level(logging.WARNING, logger="bench.cache"):
        result = run_benchmark(*TINY_RUN, f"cache.dir={database.parent}")
    np.testing.assert_array_equal(result.scores, reference.scores)
    assert result.metrics["accuracy"] == reference.metrics["accuracy"]
    warnings = [record.getMessage() for record in caplog.records if "stops caching" in record.getMessage()]
    assert len(warnings) == 1, warnings
    assert str(database) in warnings[0] and "database or disk is full" in warnings[0]
    with closing(sqlite3.connect(database)) as connection:
        stored = connection.execute("SELECT COUNT(*) FROM detections_v1").fetchone()[0]
    assert 0 < stored < result.metrics["num_images"]
