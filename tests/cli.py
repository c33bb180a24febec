"""Running ``python -m bench`` as a user does, against a fresh MLflow store."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.paths import project_root


def run_bench(*overrides: str, env: dict[str, str], timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench", "progress=false", *overrides],
        capture_output=True,
        text=True,
        cwd=project_root(),
        env=env,
        timeout=timeout,
    )


def start_bench(tmp_path: Path, *overrides: str) -> subprocess.Popen[str]:
    """``python -m bench`` started in the background, with its MLflow store (``mlruns.db``) and
    feature cache (``cache/``) in ``tmp_path``; its output is piped."""
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlruns.db'}",
        "BENCH_CACHE_DIR": str(tmp_path / "cache"),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "bench", "progress=false", *overrides],
        cwd=project_root(),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture()
def store(tmp_path: Path) -> tuple[str, dict[str, str]]:
    """A fresh SQLite store (URI, and the environment that points the CLI at it)."""
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    return uri, {**os.environ, "MLFLOW_TRACKING_URI": uri}
