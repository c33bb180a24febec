"""A run's figures and files, written to its Hydra run dir and logged to MLflow."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import mlflow
import numpy as np
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

from bench.detectors import FIVE_POINTS
from bench.pipeline import BenchmarkResult, ImageStatus, ShardResult
from bench.pipeline.memory import MemorySample, trace_series
from bench.reporting import plot_roc, save_face_grid
from bench.reporting.edc import edc_report
from bench.reporting.safe_csv import write_rows
from bench.tracking import run_keys
from bench.tracking.protocol_reports import report_for


def write_failures(result: BenchmarkResult | ShardResult, path: Path) -> Path:
    """Every image that was not detected, why, and what was done with it."""
    return write_rows(
        path,
        ["image", "stressed", "status", "reason", "num_faces", "fallback"],
        (
            [
                record.path,
                int(record.stressed),
                record.status.value,
                record.reason,
                record.num_faces,
                int(record.fallback),
            ]
            for record in result.records
            if record.status is not ImageStatus.DETECTED
        ),
    )


def write_quality(result: BenchmarkResult, path: Path) -> Path:
    """One row per image: its status and every quality signal, empty where absent."""
    names = list(result.quality)

    def cell(name: str, index: int) -> float | str:
        value = float(result.quality[name][index])
        return "" if math.isnan(value) else round(value, 6)

    return write_rows(
        path,
        ["image", "stressed", "status", "fallback", *names],
        (
            [record.path, int(record.stressed), record.status.value, int(record.fallback)]
            + [cell(name, index) for name in names]
            for index, record in enumerate(result.records)
        ),
    )


def write_memory_trace(result: BenchmarkResult | ShardResult, path: Path) -> Path:
    """One row per sample; GPU columns only when the run sampled the GPU (NaN stays ``nan``)."""
    series = trace_series(result.memory_trace)
    return write_rows(
        path,
        ["seconds", "phase", *series],
        (
            [round(sample.seconds, 3), sample.phase, *(round(getattr(sample, name), 1) for name in series)]
            for sample in result.memory_trace
        ),
    )


def log_memory_trace(run_id: str, trace: Sequence[MemorySample], start_ms: int) -> None:
    """Log each series as a metric history (step = sample index, timestamp = ``start_ms`` plus
    the sample's time) so the MLflow UI plots memory over time; NaN values are skipped.

    One ``log_batch`` call: the client splits it into requests within the server's limits.
    """
    metrics = [
        Metric(name, value, start_ms + round(1000 * sample.seconds), step)
        for name in trace_series(trace)
        for step, sample in enumerate(trace)
        if not math.isnan(value := getattr(sample, name))
    ]
    MlflowClient().log_batch(run_id, metrics=metrics)


def write_aligned_samples(result: BenchmarkResult, path: Path) -> Path:
    """The sample faces as arrays with their image paths, so a sweep's report can put the same
    image aligned by each method side by side."""
    np.savez_compressed(
        path,
        paths=np.array([sample.path for sample in result.samples]),
        faces=np.stack([sample.face for sample in result.samples]),
        fallback=np.array([sample.fallback for sample in result.samples]),
    )
    return path


def write_landmarks(result: BenchmarkResult, path: Path) -> Path:
    """Each image's aligned face's five points (``FIVE_POINTS`` order; NaN for a point the method
    does not give, and for every point of a face it did not detect), so a report can measure
    one method's landmark error against another's."""
    points = np.full((len(result.records), len(FIVE_POINTS), 2), np.nan, dtype=np.float32)
    for row, record in enumerate(result.records):
        face = record.face
        if record.status is ImageStatus.DETECTED and face is not None and face.landmarks is not None:
            for name, point in zip(face.landmark_names, face.landmarks, strict=True):
                if name in FIVE_POINTS:  # BlazeFace's mouth centre is none of them
                    points[row, FIVE_POINTS.index(name)] = point
    np.savez_compressed(
        path,
        paths=np.array([record.path for record in result.records]),
        stressed=np.array([record.stressed for record in result.records]),
        names=np.array(FIVE_POINTS),
        landmarks=points,
    )
    return path


def log_result(result: BenchmarkResult, out_dir: Path) -> list[Path]:
    """Log metrics, the runtime description, the memory trace and every artifact of a run."""
    log_figures(result, out_dir)
    label = f"{result.runtime.get('detector', '')} + {result.runtime.get('model', '')}"
    files = [
        write_failures(result, out_dir / run_keys.FAILURES_FILE),
        write_quality(result, out_dir / run_keys.QUALITY_FILE),
        write_memory_trace(result, out_dir / run_keys.MEMORY_TRACE_FILE),
        write_landmarks(result, out_dir / run_keys.LANDMARKS_FILE),
    ]
    mlflow.set_tag(run_keys.PROTOCOL_TAG, result.protocol)
    own, (fpr, tpr, auc) = report_for(result.protocol).artifacts(result, out_dir)
    files += own
    if result.edc:
        files += edc_report(result.edc, out_dir)
    files.append(plot_roc(fpr, tpr, out_dir / run_keys.ROC_FILE, label=label, auc=auc))
    if result.samples:
        faces = [sample.face for sample in result.samples]
        captions = [sample.caption for sample in result.samples]
        files.append(save_face_grid(faces, out_dir / run_keys.FACE_GRID_FILE, captions=captions))
        files.append(write_aligned_samples(result, out_dir / run_keys.ALIGNED_FACES_FILE))
    files.append(write_summary(result, out_dir / run_keys.METRICS_FILE))
    for path in files:
        mlflow.log_artifact(str(path))
    return files


def log_shard(result: ShardResult, out_dir: Path, shard: str) -> list[Path]:
    """A shard's job (``shard``: ``"K/N"``): its metrics (the speed and memory of its share),
    what ran, its failures and memory trace. Pair scores and every report are the merge's."""
    log_figures(result, out_dir)
    mlflow.set_tag(run_keys.SHARD_TAG, shard)
    files = [
        write_failures(result, out_dir / run_keys.FAILURES_FILE),
        write_memory_trace(result, out_dir / run_keys.MEMORY_TRACE_FILE),
        write_summary(result, out_dir / run_keys.METRICS_FILE),
    ]
    for path in files:
        mlflow.log_artifact(str(path))
    return files


def log_figures(result: BenchmarkResult | ShardResult, out_dir: Path) -> None:
    """What every job logs to the active run: its metrics (NaN ones are not sent: MLflow has no
    value for them, ``metrics.json`` keeps them), what ran, and its memory over time."""
    out_dir.mkdir(parents=True, exist_ok=True)
    run = mlflow.active_run()
    assert run is not None, "logging a job needs an active MLflow run"
    mlflow.log_metrics({key: value for key, value in result.metrics.items() if not math.isnan(value)})
    mlflow.log_params(
        {f"{run_keys.RUNTIME_PARAM_PREFIX}{key}": value for key, value in result.runtime.items()}
    )
    log_memory_trace(run.info.run_id, result.memory_trace, run.info.start_time)


def write_summary(result: BenchmarkResult | ShardResult, path: Path) -> Path:
    """``metrics.json``: every metric (NaN as null) and what ran."""
    metrics = {key: None if math.isnan(value) else value for key, value in result.metrics.items()}
    path.write_text(json.dumps({"metrics": metrics, "runtime": result.runtime}, indent=2))
    return path
