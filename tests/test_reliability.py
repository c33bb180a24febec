"""Bad configuration, running out of GPU memory, damaged cache rows, repeatability."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from bench.models import create_embedder
from bench.pipeline import BenchmarkResult, BenchmarkRunner

from .conftest import bench_config, run_benchmark

ONE_FOLD = ["dataset.folds=[0]", "dataset.pairs_per_fold=20"]


def run(overrides: list[str]) -> BenchmarkResult:
    return run_benchmark(*overrides)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without a GPU")
def test_cuda_without_a_gpu_is_a_clear_error() -> None:
    with pytest.raises((RuntimeError, ValueError), match=r"(?i)cuda.*(not available|no usable)"):
        BenchmarkRunner(bench_config("hardware=cuda"))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the fallback on a machine without a GPU")
def test_hardware_auto_falls_back_to_the_cpu_and_says_so() -> None:
    result = run([*ONE_FOLD, "hardware=auto", "cache=off"])
    assert result.runtime["device_choice"] == "auto: no CUDA device, fell back to the CPU"
    assert result.runtime["model_device"] == "cpu" and result.metrics["num_pairs_scored"] == 20


class _SmallMemoryForward:
    """The real forward pass, refusing batches above ``limit`` as a full GPU would."""

    def __init__(self, forward: Any, limit: int) -> None:
        self.forward = forward
        self.limit = limit
        self.sizes: list[int] = []

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.sizes.append(len(x))
        if len(x) > self.limit:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return self.forward(x)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.forward, name)


def test_out_of_memory_halves_the_batch_and_loses_no_face() -> None:
    faces = np.random.default_rng(0).integers(0, 256, (10, 112, 112, 3), dtype=np.uint8)
    reference = create_embedder({"name": "edgeface_xs_gamma_06"}, backend="torch", batch_size=16)
    expected = reference.embed(faces)

    embedder = create_embedder({"name": "edgeface_xs_gamma_06"}, backend="torch", batch_size=16)
    small = _SmallMemoryForward(embedder.forward, limit=4)
    embedder.forward = small
    got = embedder.embed(faces)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert small.sizes[:3] == [10, 5, 2]  # 10 fails, 5 fails, then pieces of 2
    assert embedder.batch_size == 2 and embedder.describe()["model_oom_halvings"] == "2"

    small.limit = 0  # not even one face fits: that is an error, not an endless retry
    with pytest.raises(torch.OutOfMemoryError):
        embedder.embed(faces[:1])


def test_the_same_command_twice_gives_identical_metrics() -> None:
    first, second = run([*ONE_FOLD, "cache=off"]), run([*ONE_FOLD, "cache=off"])
    np.testing.assert_array_equal(first.scores, second.scores)
    timing = ("time_", "ms_per_image_", "images_per_s", "peak_", "cpu_", "threads_", "switches_")
    for key, value in first.metrics.items():
        if not key.startswith(timing):
            assert second.metrics[key] == value or (np.isnan(value) and np.isnan(second.metrics[key])), key


def test_a_damaged_cache_row_is_recomputed(tmp_path: Path) -> None:
    cached = [*ONE_FOLD, f"cache.dir={tmp_path}"]
    first = run(cached)
    with sqlite3.connect(tmp_path / "features.sqlite") as connection:
        (table,) = [
            name
            for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if name.startswith("embeddings")
        ]
        connection.execute(
            f"UPDATE {table} SET payload = zeroblob(length(payload)) "
            f"WHERE image = (SELECT image FROM {table} LIMIT 1)"
        )
    second = run(cached)
    assert second.metrics["cache_corrupted_entries"] == 1
    assert second.metrics["num_images_computed"] == 1
    np.testing.assert_array_equal(second.scores, first.scores)
