"""Hostile values on their way into tracking: file names that a spreadsheet would run as formulas,
credentials in a tracking URI, a port that is no number. Each reaches MLflow and the run's files
defused, or stops the run with a clear error before any work."""

from __future__ import annotations

import base64
import csv
import math
import os
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from bench.assets import resolve
from bench.config import ConfigValueError
from bench.config.tracking_uri import mask_credentials
from bench.data import parse_lfw_pairs
from bench.pipeline import BenchmarkRunner
from bench.pipeline.protocols import PAIRS
from bench.reporting.safe_csv import read_table, write_rows, write_table
from bench.tracking import run_keys
from bench.tracking.artifacts import log_result
from bench.tracking.mlflow_store import TrackingServerUnreachableError, check_tracking_server, tracked_run
from bench.tracking.protocol_reports import report_for
from bench.tracking.sweep import SweepTracker

from . import corpus
from .cli import run_bench
from .conftest import bench_config, compose_config
from .mlflow_server import free_port
from .mlflow_server import mlflow_server as mlflow_server  # the fixture
from .test_csv_pairs import pairs_config

# -- file names that a spreadsheet would run ---------------------------------------------------------

#: OWASP's examples of CSV injection, as image file names (the second one an empty file).
FORMULA_IMAGE = "=cmd|' -C calc'!A0.jpg"
FORMULA_FAILURE = "@SUM(1+1)*cmd.jpg"
#: Prefixes for the other images: each starts a formula, or is the quote that defuses one.
HOSTILE_PREFIXES = ("+1+2_", "-2+3_", "'quoted_", "@A1_", "=1+1_")
#: What a spreadsheet runs a text cell that starts with as a formula (OWASP's list).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def hostile_corpus(root: Path, lfw_root: Path) -> list[tuple[str, str, int]]:
    """Four same-person and four different-people LFW pairs, every image copied under a name
    that starts a formula, and an empty file (a failure) named like one."""
    protocol = parse_lfw_pairs(resolve("lfw_pairs"))
    good = protocol[:4] + protocol[300:304]
    originals = sorted({path for pair in good for path in (pair.image_a, pair.image_b)})
    names = {originals[0]: FORMULA_IMAGE}
    for number, original in enumerate(originals[1:]):
        names[original] = f"{HOSTILE_PREFIXES[number % len(HOSTILE_PREFIXES)]}{number}.jpg"
    root.mkdir(parents=True)
    for original, name in names.items():
        shutil.copyfile(lfw_root / original, root / name)
    corpus.empty_file(root, FORMULA_FAILURE)
    rows = [(names[pair.image_a], names[pair.image_b], int(pair.same)) for pair in good]
    return [*rows, (FORMULA_FAILURE, FORMULA_IMAGE, 0)]


def csv_cells(path: Path) -> list[list[str]]:
    with path.open(newline="") as file:
        return list(csv.reader(file))


def is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def test_a_real_runs_csv_artifacts_defuse_formula_file_names(
    tmp_path: Path, lfw_root: Path, tracking_uri: str
) -> None:
    rows = hostile_corpus(tmp_path / "images", lfw_root)
    protocol = corpus.pairs_csv(tmp_path / "pairs.csv", rows)
    config = pairs_config(tmp_path / "images", protocol, "dataset.num_folds=2", "cache=off")
    with tracked_run(config.tracking, "hostile names", params={}, tags={}) as run:
        with BenchmarkRunner(config) as runner:
            result = runner.run()
        log_result(result, tmp_path / "run")
    client = MlflowClient(tracking_uri)
    logged = {
        name: Path(client.download_artifacts(run.info.run_id, name, str(tmp_path)))
        for name in (run_keys.PAIR_SCORES_FILE, run_keys.FAILURES_FILE)
    }

    scores = csv_cells(logged[run_keys.PAIR_SCORES_FILE])
    assert scores[-1][1:3] == [f"'{FORMULA_FAILURE}", f"'{FORMULA_IMAGE}"]
    failures = csv_cells(logged[run_keys.FAILURES_FILE])
    assert [row[0] for row in failures[1:]] == [f"'{FORMULA_FAILURE}"]
    for cells in (scores, failures):
        texts = [cell for row in cells for cell in row]
        assert not [cell for cell in texts if cell.startswith(FORMULA_STARTS) and not is_number(cell)]
    # Every text cell quoted, every number bare: a spreadsheet splits no name and reads scores as numbers.
    with logged[run_keys.PAIR_SCORES_FILE].open(newline="") as file:
        typed = list(csv.reader(file, quoting=csv.QUOTE_NONNUMERIC))
    assert all(isinstance(cell, str) for cell in typed[0])
    assert all(isinstance(row[0], float) and isinstance(row[4], float) for row in typed[1:])

    # What a sweep's report reads back is the file names as they are on disk.
    read_back = report_for(PAIRS).read_scores(logged[run_keys.PAIR_SCORES_FILE])
    assert list(zip(read_back["image_a"], read_back["image_b"], strict=True)) == [row[:2] for row in rows]
    assert read_back["score"].dtype.kind == "f"


def test_every_formula_start_is_defused_and_read_back_exactly(tmp_path: Path) -> None:
    texts = ["=1+1", "+1", "-1", "@A1", "\tx", "\rx", "'quoted", "plain", "-", "", 'say "hi", =x']
    rows = [[text, -0.25, 3] for text in texts]
    path = write_rows(tmp_path / "cells.csv", ["text", "score", "count"], rows)

    with path.open(newline="") as file:
        written = list(csv.reader(file, quoting=csv.QUOTE_NONNUMERIC))
    defused = ["'=1+1", "'+1", "'-1", "'@A1", "'\tx", "'\rx", "''quoted", "plain", "'-", "", 'say "hi", =x']
    assert [row[0] for row in written[1:]] == defused
    assert all(row[1:] == [-0.25, 3.0] for row in written[1:])  # bare numbers, not text
    read_back = read_table(path)
    assert read_back["text"].fillna("").tolist() == texts
    assert read_back["score"].tolist() == [-0.25] * len(texts)


def test_report_tables_are_defused_and_read_back(tmp_path: Path) -> None:
    table = pd.DataFrame(
        {"method": ['=HYPERLINK("http://x")', "yunet"], "accuracy": [0.9, math.nan], "rank": [1, 2]}
    )
    path = write_table(table, tmp_path / "comparison.csv")

    assert path.read_text().splitlines()[1].startswith('"\'=HYPERLINK(""http://x"")",0.9,1')
    pd.testing.assert_frame_equal(read_table(path), table, check_dtype=False)


# -- credentials in the tracking URI ------------------------------------------------------------------

USER, PASSWORD = "bench-user", "pw-7f3a9c-secret"


def with_credentials(uri: str) -> str:
    scheme, _, address = uri.partition("://")
    return f"{scheme}://{USER}:{PASSWORD}@{address}"


def masked(uri: str) -> str:
    scheme, _, address = uri.partition("://")
    return f"{scheme}://{USER}:***@{address}"


def test_the_server_check_accepts_credentials_in_the_uri(mlflow_server: str) -> None:
    check_tracking_server(with_credentials(mlflow_server))


def test_an_unreachable_server_is_named_without_its_password() -> None:
    address = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(TrackingServerUnreachableError) as raised:
        check_tracking_server(with_credentials(address))
    assert PASSWORD not in str(raised.value)
    assert masked(address) in str(raised.value) and "Connection refused" in str(raised.value)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("postgresql://u:secret@db.example:5432/mlflow", "postgresql://u:***@db.example:5432/mlflow"),
        ("http://u:p@ss:w@127.0.0.1:5001/", "http://u:***@127.0.0.1:5001/"),  # a raw @ and : in it
        ("https://:token@host", "https://:***@host"),
        (
            "tracking.uri=http://a:b@h:1 dataset.root=/data x=mysql://c:d@e/f",
            "tracking.uri=http://a:***@h:1 dataset.root=/data x=mysql://c:***@e/f",
        ),
        ("http://user@host:5001", "http://user@host:5001"),  # a user alone is no secret
        ("sqlite:////tmp/a:b@c/mlruns.db", "sqlite:////tmp/a:b@c/mlruns.db"),  # a path, no authority
    ],
)
def test_passwords_are_masked_wherever_a_uri_is_shown(text: str, shown: str) -> None:
    assert mask_credentials(text) == shown


class HealthRecorder(BaseHTTPRequestHandler):
    """A server that answers ``/health`` and keeps each request's path and headers."""

    seen: ClassVar[list[tuple[str, dict[str, str]]]] = []

    def do_GET(self) -> None:
        self.seen.append((self.path, dict(self.headers)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture()
def recorder() -> Iterator[str]:
    HealthRecorder.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), HealthRecorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_the_server_check_sends_the_uris_credentials_as_mlflow_does(recorder: str) -> None:
    check_tracking_server(with_credentials(recorder).replace(PASSWORD, "p%40ss"))  # percent-encoded @
    ((path, headers),) = HealthRecorder.seen
    assert path == "/health" and headers["Authorization"] == basic_auth(USER, "p@ss")
    assert headers["Host"] == recorder.removeprefix("http://")


def test_the_server_check_sends_mlflows_credential_variables(
    recorder: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", USER)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", PASSWORD)
    check_tracking_server(recorder)
    ((_, headers),) = HealthRecorder.seen
    assert headers["Authorization"] == basic_auth(USER, PASSWORD)


def test_a_run_logs_to_a_server_uri_with_credentials_and_shows_them_nowhere(
    mlflow_server: str, tmp_path: Path
) -> None:
    uri = with_credentials(mlflow_server)
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    run_dir = tmp_path / "run"
    completed = run_bench(
        "dataset.folds=[0]",
        "dataset.pairs_per_fold=10",
        "tracking.experiment=credentials",
        f"hydra.run.dir={run_dir}",
        env=env,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output.replace(PASSWORD, "<PASSWORD>")[-5000:]
    assert PASSWORD not in output

    client = MlflowClient(mlflow_server)
    experiment = client.get_experiment_by_name("credentials")
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED"
    assert run.data.params["tracking.uri"] == masked(mlflow_server)
    assert not [key for key, value in {**run.data.params, **run.data.tags}.items() if PASSWORD in value]
    config = Path(client.download_artifacts(run.info.run_id, "config.yaml", str(tmp_path))).read_text()
    assert PASSWORD not in config and masked(mlflow_server) in config
    files = [path for path in run_dir.rglob("*") if path.is_file()]
    assert files and not [path for path in files if PASSWORD.encode() in path.read_bytes()]


# -- a port that is no number -------------------------------------------------------------------------

BAD_PORT_URI = "http://127.0.0.1:notaport"


def test_a_bad_port_in_mlflow_tracking_uri_is_named_before_any_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", BAD_PORT_URI)
    with pytest.raises(ConfigValueError, match=r"tracking\.uri.*MLFLOW_TRACKING_URI.*'notaport'"):
        bench_config()


def test_a_bad_port_in_the_tracking_option_is_named() -> None:
    with pytest.raises(ConfigValueError, match=r"tracking\.uri.*'notaport'") as raised:
        bench_config(f"tracking.uri='{BAD_PORT_URI}'")
    assert "MLFLOW_TRACKING_URI" not in str(raised.value)  # set, but not what gave the bad URI


def test_a_sweep_with_a_bad_port_stops_before_its_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", with_credentials(BAD_PORT_URI))
    with pytest.raises(SystemExit, match=r"^Sweep: tracking\.uri.*MLFLOW_TRACKING_URI.*'notaport'") as raised:
        SweepTracker().on_multirun_start(compose_config([]))
    assert PASSWORD not in str(raised.value)
