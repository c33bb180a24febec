"""Where the project lives, independent of Hydra's run directories and of the cwd."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT_ENV = "BENCH_PROJECT_ROOT"


def project_root() -> Path:
    """The checkout holding ``pyproject.toml``; ``$BENCH_PROJECT_ROOT`` or the cwd otherwise.

    Resolved from this file so that the MLflow store and the weights cache stay put whatever
    directory a job runs in.
    """
    if env := os.environ.get(PROJECT_ROOT_ENV):
        return Path(env).resolve()
    for parent in Path(__file__).resolve().parents:
        if (parent / "pyproject.toml").is_file() and (parent / "src" / "bench").is_dir():
            return parent
    return Path.cwd().resolve()
