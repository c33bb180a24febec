"""Experiment tracking in MLflow.

``log_result`` is imported from ``bench.tracking.artifacts``: it needs the pipeline (torch and
every detector), which a sweep's launching process, which runs no job itself, can do without.
"""

from bench.tracking.mlflow_store import artifact_root_for, ensure_experiment, flatten, tracked_run
from bench.tracking.sweep import SweepContext, SweepTracker, current_sweep, skip_job

__all__ = [
    "SweepContext",
    "SweepTracker",
    "artifact_root_for",
    "current_sweep",
    "ensure_experiment",
    "flatten",
    "skip_job",
    "tracked_run",
]
