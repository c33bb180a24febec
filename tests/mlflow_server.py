"""A real ``mlflow server`` for tests: what ``tracking=server`` and ``make server`` talk to.

A test module imports the ``mlflow_server`` fixture (``from .mlflow_server import mlflow_server
as mlflow_server``, the alias marking a re-export): it is module-scoped, so one server (10-15 s
to start here) serves every test of the module, and each module gets a store of its own.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest
from mlflow.entities import Run
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

from bench.paths import project_root

STARTUP_TIMEOUT_S = 90.0  # ~10 s idle; 40 s seen while other test suites loaded both cores


def free_port() -> int:
    """A loopback port nothing listens on now (the kernel's pick for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(uri: str) -> bool:
    try:
        with urllib.request.urlopen(f"{uri}/health", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


@contextmanager
def serve_mlflow(root: Path) -> Iterator[str]:
    """Run ``mlflow server`` as ``make server`` does (SQLite store, artifacts proxied into a
    local folder), all under ``root``; yields its URI once ``/health`` answers."""
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    log = root / "server.log"
    command = [
        str(Path(sys.executable).with_name("mlflow")),
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--backend-store-uri",
        f"sqlite:///{root / 'mlflow.db'}",
        "--serve-artifacts",
        "--artifacts-destination",
        str(root / "mlartifacts"),
    ]
    env = {key: value for key, value in os.environ.items() if key != "MLFLOW_TRACKING_URI"}
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"  # as make server: no GenAI job workers
    with log.open("wb") as output:
        # A session of its own: uvicorn's workers die with the group, not only the launcher.
        server = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, cwd=root, env=env, start_new_session=True
        )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not _healthy(uri):
            if server.poll() is not None or time.monotonic() > deadline:
                state = f"exited with {server.returncode}" if server.poll() is not None else "timed out"
                pytest.fail(f"mlflow server on {uri} {state}; its log:\n{log.read_text()[-5000:]}")
            time.sleep(0.25)
        yield uri
    finally:
        _stop(server)


def _stop(server: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server's whole process group, SIGKILL if it lingers."""
    with suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URI of a tracking server that lives as long as the test module."""
    with serve_mlflow(tmp_path_factory.mktemp("mlflow-server")) as uri:
        yield uri


@dataclass(frozen=True)
class Sweep:
    """A finished multirun as the server holds it: the parent run and its children in job order."""

    uri: str
    experiment_id: str
    parent: Run
    children: list[Run]


def run_sweep(uri: str, workdir: Path, *overrides: str) -> Sweep:
    """``python -m bench OVERRIDES -m`` as a user runs it, logging to the server at ``uri``
    (offline, feature cache and Hydra dirs under ``workdir``), read back through the server."""
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": uri,
        "BENCH_OFFLINE": "1",
        "BENCH_CACHE_DIR": str(workdir / "cache"),
    }
    command = [sys.executable, "-m", "bench", "progress=false", *overrides]
    completed = subprocess.run(
        [*command, f"hydra.sweep.dir={workdir / 'multirun'}", "-m"],
        capture_output=True,
        text=True,
        cwd=project_root(),
        env=env,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-5000:]
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("face-alignment")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    children = [run for run in runs if MLFLOW_PARENT_RUN_ID in run.data.tags]
    parents = [run for run in runs if MLFLOW_PARENT_RUN_ID not in run.data.tags]
    assert len(parents) == 1, [run.info.run_name for run in runs]
    children.sort(key=lambda run: int(run.data.tags["job_number"]))
    return Sweep(uri, experiment.experiment_id, parents[0], children)
