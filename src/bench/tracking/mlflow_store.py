"""MLflow: where runs go and how one run is opened."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import mlflow
from mlflow.entities import Run


def artifact_root_for(uri: str) -> str | None:
    """Beside a SQLite store, artifacts go to ``mlartifacts/`` next to the database file, so
    that a store and its artifacts move together and no job's cwd decides where they land.
    Servers and file stores pick their own artifact root (``None``)."""
    parsed = urlparse(uri)
    if parsed.scheme != "sqlite":
        return None
    database = Path(uri.removeprefix("sqlite:///"))
    return (database.parent / "mlartifacts").resolve().as_uri()


def ensure_experiment(name: str, uri: str) -> str:
    """The experiment's id, created (with its artifact root) if it does not exist yet."""
    mlflow.set_tracking_uri(uri)
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    return mlflow.create_experiment(name, artifact_location=artifact_root_for(uri))


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``: run parameters that the UI can compare."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


@contextmanager
def tracked_run(
    tracking: Mapping[str, Any], run_name: str, params: Mapping[str, Any], tags: Mapping[str, str]
) -> Iterator[Run]:
    """Open an MLflow run that ends FINISHED, or FAILED (KILLED on Ctrl-C) if the body raises."""
    uri = str(tracking["uri"])
    experiment_id = ensure_experiment(str(tracking["experiment"]), uri)
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=dict(tags)) as run:
        mlflow.log_params({key: "None" if value is None else value for key, value in params.items()})
        yield run
