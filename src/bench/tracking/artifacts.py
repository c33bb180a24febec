"""A run's figures and files, written to its Hydra run dir and logged to MLflow."""

from __future__ import annotations

import csv
import json
import math
import time
from pathlib import Path

import mlflow
from mlflow.entities import Metric

from bench.pipeline import BenchmarkResult, ImageStatus
from bench.reporting import plot_roc, save_face_grid


def write_pair_scores(result: BenchmarkResult, path: Path) -> Path:
    detected = {record.path: record.status is ImageStatus.DETECTED for record in result.records}
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["fold", "image_a", "image_b", "same", "score", "both_detected"])
        for pair, score in zip(result.dataset.pairs, result.scores, strict=True):
            both = detected[pair.image_a] and detected[pair.image_b]
            writer.writerow(
                [pair.fold, pair.image_a, pair.image_b, int(pair.same), f"{score:.6f}", int(both)]
            )
    return path


def write_failures(result: BenchmarkResult, path: Path) -> Path:
    """Every image that was not detected, why, and what was done with it."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "status", "reason", "num_faces", "fallback"])
        for record in result.records:
            if record.status is not ImageStatus.DETECTED:
                writer.writerow(
                    [record.path, record.status.value, record.reason, record.num_faces, int(record.fallback)]
                )
    return path


def write_memory_trace(result: BenchmarkResult, path: Path) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["seconds", "rss_mb"])
        writer.writerows([f"{t:.3f}", f"{rss:.1f}"] for t, rss in result.memory_trace)
    return path


def log_result(result: BenchmarkResult, out_dir: Path) -> list[Path]:
    """Log metrics, the runtime description, the memory trace and every artifact of a run."""
    out_dir.mkdir(parents=True, exist_ok=True)
    run = mlflow.active_run()
    assert run is not None, "log_result needs an active MLflow run"
    mlflow.log_metrics({key: value for key, value in result.metrics.items() if not math.isnan(value)})
    mlflow.log_params({f"runtime.{key}": value for key, value in result.runtime.items()})

    now = int(time.time() * 1000)
    trace = [Metric("rss_mb", rss, now, step) for step, (_, rss) in enumerate(result.memory_trace)]
    if trace:
        mlflow.tracking.MlflowClient().log_batch(run.info.run_id, metrics=trace)

    verification = result.verification
    label = f"{result.runtime.get('detector', '')} + {result.runtime.get('model', '')}"
    files = [
        write_pair_scores(result, out_dir / "pair_scores.csv"),
        write_failures(result, out_dir / "failures.csv"),
        write_memory_trace(result, out_dir / "memory_trace.csv"),
        plot_roc(verification.fpr, verification.tpr, out_dir / "roc.png", label=label, auc=verification.auc),
    ]
    if result.samples:
        captions, faces = zip(*result.samples, strict=True)
        files.append(save_face_grid(list(faces), out_dir / "aligned_faces.png", captions=list(captions)))
    summary = out_dir / "metrics.json"
    metrics = {key: None if math.isnan(value) else value for key, value in result.metrics.items()}
    summary.write_text(json.dumps({"metrics": metrics, "runtime": result.runtime}, indent=2))
    files.append(summary)
    for path in files:
        mlflow.log_artifact(str(path))
    return files
