"""Experiment tracking in MLflow."""

from bench.tracking.artifacts import log_result
from bench.tracking.mlflow_store import artifact_root_for, ensure_experiment, flatten, tracked_run

__all__ = ["artifact_root_for", "ensure_experiment", "flatten", "log_result", "tracked_run"]
