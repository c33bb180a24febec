"""The memory sampler's trace, phases and peaks, and how the trace is written and logged."""

from __future__ import annotations

import csv
import logging
import math
import time
from pathlib import Path
from types import SimpleNamespace

import mlflow
import numpy as np
import pynvml
import pytest
import torch
from mlflow.tracking import MlflowClient

from bench.pipeline.memory import GPU_SERIES, MIB, MemorySample, MemorySampler
from bench.tracking.artifacts import log_memory_trace, write_memory_trace


@pytest.fixture()
def no_nvml(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records every NVML entry point called, and makes nvmlInit fail as on a box without NVML."""
    calls: list[str] = []

    def fail_init() -> None:
        calls.append("nvmlInit")
        raise pynvml.NVMLError(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)

    monkeypatch.setattr(pynvml, "nvmlInit", fail_init)
    for name in ("nvmlShutdown", "nvmlDeviceGetHandleByPciBusId", "nvmlDeviceGetMemoryInfo"):
        monkeypatch.setattr(pynvml, name, lambda *_, name=name: calls.append(name))
    return calls


@pytest.fixture()
def fake_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forces the sampler's CUDA branch on a CPU box with fixed allocator figures."""
    figures = {
        "memory_allocated": 100,
        "memory_reserved": 200,
        "max_memory_allocated": 150,
        "max_memory_reserved": 250,
    }
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda device=None: None)
    for name, mib in figures.items():
        monkeypatch.setattr(torch.cuda, name, lambda device=None, mib=mib: mib * MIB)


def test_phases_label_samples_and_split_peaks() -> None:
    with MemorySampler(interval_s=0.02) as sampler:
        with sampler.phase("idle"):
            time.sleep(0.1)
        with sampler.phase("alloc"):
            block = np.ones(200 * MIB // 8)  # ones, not zeros: the pages must be touched
            time.sleep(0.1)
            del block

    seconds = [sample.seconds for sample in sampler.trace]
    assert seconds == sorted(seconds)
    labels = [sample.phase for sample in sampler.trace]
    # Contiguous blocks in order; the enter and leave samples make every phase non-empty.
    assert [label for i, label in enumerate(labels) if i == 0 or labels[i - 1] != label] == [
        "run",
        "idle",
        "alloc",
        "run",
    ]
    peaks = sampler.peaks()
    assert peaks["peak_rss_mb_alloc"] - peaks["peak_rss_mb_idle"] > 150
    assert peaks["peak_rss_mb"] == max(peaks["peak_rss_mb_alloc"], peaks["peak_rss_mb_run"])
    assert sampler.peak_rss_mb == peaks["peak_rss_mb"]


def test_phase_misuse_raises() -> None:
    sampler = MemorySampler()
    with pytest.raises(RuntimeError, match="inside the sampler"), sampler.phase("load"):
        pass
    with sampler:
        with pytest.raises(ValueError, match="phase name"), sampler.phase("bad name"):
            pass
        with (
            sampler.phase("load"),
            pytest.raises(RuntimeError, match="inside phase 'load'"),
            sampler.phase("embed"),
        ):
            pass
        with sampler.phase("embed"):  # the failed nesting left no label behind
            pass
    assert {sample.phase for sample in sampler.trace} == {"run", "load", "embed"}


def test_cpu_run_samples_no_gpu(monkeypatch: pytest.MonkeyPatch, no_nvml: list[str]) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # cuda=False must win
    with MemorySampler(interval_s=0.01, cuda=False) as sampler:
        time.sleep(0.03)

    assert not sampler.cuda
    assert no_nvml == []
    assert sampler.nvml_error is None
    assert all(math.isnan(getattr(s, name)) for s in sampler.trace for name in GPU_SERIES)
    assert set(sampler.peaks()) == {"peak_rss_mb", "peak_rss_mb_run"}
    assert sampler.peak_gpu_mb == 0.0


def test_nvml_failure_leaves_used_series_nan(
    fake_cuda: None, no_nvml: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.WARNING),
        MemorySampler(interval_s=0.01, cuda=True) as sampler,
        sampler.phase("embed"),
    ):
        time.sleep(0.03)

    assert sampler.cuda
    assert no_nvml == ["nvmlInit"]  # no shutdown of an NVML that never started
    assert sampler.nvml_error is not None and "Not Found" in sampler.nvml_error
    assert len([r for r in caplog.records if "NVML unavailable" in r.message]) == 1
    assert all(s.gpu_allocated_mb == 100 and s.gpu_reserved_mb == 200 for s in sampler.trace)
    assert all(math.isnan(s.gpu_used_mb) for s in sampler.trace)
    peaks = sampler.peaks()
    assert peaks["peak_gpu_allocated_mb"] == 150  # torch's exact peak, not the samples' 100
    assert peaks["peak_gpu_reserved_mb"] == 250
    assert peaks["peak_gpu_allocated_mb_embed"] == 100
    assert math.isnan(peaks["peak_gpu_used_mb"])
    assert math.isnan(peaks["peak_gpu_used_mb_embed"])
    assert sampler.peak_gpu_mb == 150


def _trace(n: int, gpu: bool) -> list[MemorySample]:
    extra = {"gpu_allocated_mb": 10.0, "gpu_reserved_mb": 20.0} if gpu else {}
    return [MemorySample(0.25 * i, "run", 100.0 + i, **extra) for i in range(n)]


@pytest.mark.parametrize("gpu", [False, True])
def test_write_memory_trace_columns(tmp_path: Path, gpu: bool) -> None:
    result = SimpleNamespace(memory_trace=_trace(3, gpu))
    path = write_memory_trace(result, tmp_path / "memory_trace.csv")  # type: ignore[arg-type]

    with path.open() as handle:
        rows = list(csv.DictReader(handle))
    expected = ["seconds", "phase", "rss_mb", *(GPU_SERIES if gpu else ())]
    assert list(rows[0]) == expected
    assert rows[2]["seconds"] == "0.5" and rows[2]["rss_mb"] == "102.0"  # numbers, not formatted text
    if gpu:  # NVML's series was not sampled: written as NaN, not dropped or zeroed
        assert rows[0]["gpu_allocated_mb"] == "10.0" and rows[0]["gpu_used_mb"] == "nan"


def test_log_memory_trace(tracking_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """One client call per run, even past the store's 1000 metrics per request (the client chunks)."""
    sizes: list[int] = []
    log_batch = MlflowClient.log_batch

    def spy(self: MlflowClient, run_id: str, metrics: list, **kwargs: object) -> None:
        sizes.append(len(metrics))
        log_batch(self, run_id, metrics=metrics, **kwargs)

    monkeypatch.setattr(MlflowClient, "log_batch", spy)
    with mlflow.start_run() as run:
        log_memory_trace(run.info.run_id, _trace(2500, gpu=False), run.info.start_time)
    with mlflow.start_run() as gpu_run:
        log_memory_trace(gpu_run.info.run_id, _trace(3, gpu=True), gpu_run.info.start_time)

    assert sizes == [2500, 9]
    client = MlflowClient()
    history = sorted(client.get_metric_history(run.info.run_id, "rss_mb"), key=lambda m: m.step)
    assert len(history) == 2500
    assert [m.step for m in history] == list(range(2500))
    assert history[4].timestamp == run.info.start_time + 1000
    assert history[-1].value == 100.0 + 2499
    assert client.get_metric_history(run.info.run_id, "gpu_allocated_mb") == []
    assert len(client.get_metric_history(gpu_run.info.run_id, "gpu_reserved_mb")) == 3
    assert client.get_metric_history(gpu_run.info.run_id, "gpu_used_mb") == []  # all NaN: skipped
