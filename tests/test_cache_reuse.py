"""The runner with the feature cache: re-runs, model sweeps and interrupted runs reuse work."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench.pipeline import BenchmarkResult

from .conftest import run_benchmark

ONE_FOLD = ["dataset.folds=[0]", "dataset.pairs_per_fold=40"]


def run(overrides: list[str]) -> BenchmarkResult:
    return run_benchmark(*overrides)


@pytest.fixture()
def cache_dir(tmp_path: Path) -> list[str]:
    return [f"cache.dir={tmp_path / 'cache'}"]


def faces(result: BenchmarkResult) -> list[Any]:
    return [None if record.face is None else record.face.box.tolist() for record in result.records]


def test_a_rerun_computes_nothing_and_scores_the_same(cache_dir: list[str]) -> None:
    cold = run([*ONE_FOLD, *cache_dir])
    warm = run([*ONE_FOLD, *cache_dir])
    assert cold.metrics["num_images_computed"] == cold.metrics["num_images"] > 0
    assert warm.metrics["num_images_computed"] == 0
    assert warm.metrics["num_images_cached"] == cold.metrics["num_images"]
    np.testing.assert_array_equal(warm.scores, cold.scores)
    assert warm.metrics["accuracy"] == cold.metrics["accuracy"]
    assert faces(warm) == faces(cold)
    # Nothing was left to compute, so neither model was loaded; the run record says so.
    assert warm.runtime["detector_loaded"].startswith("false")
    assert warm.runtime["model_loaded"].startswith("false")
    assert warm.samples  # the sample grid is rebuilt from the cached faces


def test_a_model_sweep_reuses_the_detections(cache_dir: list[str]) -> None:
    first = run([*ONE_FOLD, *cache_dir])
    second = run([*ONE_FOLD, *cache_dir, "model=edgeface_xxs_q"])
    assert second.runtime["detector_loaded"].startswith("false")
    assert second.runtime["model"] == "edgeface_xxs_q" and "model_backend" in second.runtime
    assert second.metrics["num_images_computed"] == second.metrics["num_images"]
    assert faces(second) == faces(first)
    assert not np.allclose(second.scores, first.scores)  # a different model did run


def test_an_interrupted_run_resumes_with_only_the_missing_images(cache_dir: list[str]) -> None:
    # The smaller run stands for a run stopped part way: its batches are in the cache.
    partial = run(["dataset.folds=[0]", "dataset.pairs_per_fold=10", *cache_dir])
    whole = run([*ONE_FOLD, *cache_dir])
    done = set(partial.dataset.images)
    assert whole.metrics["num_images_computed"] == len(set(whole.dataset.images) - done)
    assert whole.metrics["num_images_cached"] == len(done)
    fresh = run([*ONE_FOLD, "cache=off"])
    np.testing.assert_array_equal(whole.scores, fresh.scores)


def test_cache_off_writes_nothing() -> None:
    default_dir = Path(os.environ["BENCH_CACHE_DIR"])  # where cache=disk would write
    result = run([*ONE_FOLD, "cache=off"])
    assert result.runtime["cache"] == "off"
    assert result.metrics["num_images_computed"] == result.metrics["num_images"]
    assert not any(default_dir.iterdir())


def test_the_naive_pipeline_gives_the_same_scores() -> None:
    fast = run([*ONE_FOLD, "cache=off"])
    naive = run([*ONE_FOLD, "pipeline=naive"])
    assert naive.runtime["pipeline"] == "naive" and naive.runtime["cache"] == "off"
    assert faces(naive) == faces(fast)
    np.testing.assert_allclose(naive.scores, fast.scores, atol=1e-5)
