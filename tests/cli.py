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


@pytest.fixture()
def store(tmp_path: Path) -> tuple[str, dict[str, str]]:
    """A fresh SQLite store (URI, and the environment that points the CLI at it)."""
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    return uri, {**os.environ, "MLFLOW_TRACKING_URI": uri}
