"""A sweep's child runs read back from MLflow for its comparison report."""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from bench.reporting.comparison import MethodRun
from bench.reporting.safe_csv import read_table
from bench.tracking import run_keys


@dataclass(frozen=True)
class SweepRuns:
    """What a protocol's comparison reads: the children as logged and as the report needs them."""

    client: MlflowClient
    children: list[Run]
    runs: list[MethodRun]
    out_dir: Path


def method_run(
    client: MlflowClient,
    run: Run,
    label: str,
    scores_file: str,
    read_scores: Callable[[Path], pd.DataFrame],
) -> MethodRun:
    """A child run as the comparison needs it, its scores read as its protocol wrote them
    (``scores_file``); a failed job has no scores, quality signals or samples."""
    names = {artifact.path for artifact in client.list_artifacts(run.info.run_id)}
    metrics = dict(run.data.metrics)
    with tempfile.TemporaryDirectory() as tmp:
        if run_keys.METRICS_FILE in names:
            metrics |= nan_metrics(download(client, run, run_keys.METRICS_FILE, tmp))
        pair_scores = None
        if scores_file in names:
            pair_scores = read_scores(download(client, run, scores_file, tmp))
        quality = None
        if run_keys.QUALITY_FILE in names:
            quality = read_table(download(client, run, run_keys.QUALITY_FILE, tmp))
        samples: dict[str, np.ndarray] = {}
        if run_keys.ALIGNED_FACES_FILE in names:
            with np.load(download(client, run, run_keys.ALIGNED_FACES_FILE, tmp)) as arrays:
                samples = dict(zip(arrays["paths"].tolist(), arrays["faces"], strict=True))
    return MethodRun(
        label=label,
        run_id=run.info.run_id,
        status=run.info.status,
        metrics=metrics,
        pair_scores=pair_scores,
        samples=samples,
        quality=quality,
    )


def download(client: MlflowClient, run: Run, name: str, into: str) -> Path:
    """The artifact ``name`` of ``run``, downloaded into the folder ``into``."""
    return Path(client.download_artifacts(run.info.run_id, name, into))


def nan_metrics(metrics_json: Path) -> dict[str, float]:
    """The metrics a run computed as NaN: MLflow is not sent them (``log_result``), and
    ``metrics.json`` keeps them as null. They are values, not metrics the run failed to log."""
    computed = json.loads(metrics_json.read_text())["metrics"]
    return {key: math.nan for key, value in computed.items() if value is None}
