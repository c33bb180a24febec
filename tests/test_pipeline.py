"""The runner on real LFW subsets: scoring, failure policies, records."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from bench.pipeline import BenchmarkRunner, ImageStatus, NoFaceError
from bench.pipeline.detector_pool import DetectorPool

from .conftest import bench_config, run_benchmark

#: YuNet's scores are sqrt(cls * obj) of sigmoid outputs, below 1 on real photos (at most 0.951 on
#: the 2320 images of LFW's folds 0-2), so a threshold of 1 accepts no face: every image fails.
NO_FACE = "detector.options.score_threshold=1.0"


def test_reference_aligned_faces_score_high() -> None:
    config = bench_config(
        "dataset=lfw_aligned", "detector=none", "dataset.folds=[0]", "dataset.pairs_per_fold=100"
    )
    with BenchmarkRunner(config) as runner:
        result = runner.run()
    metrics = result.metrics
    assert metrics["num_pairs_scored"] == 100 and metrics["success_rate"] == 1.0
    assert metrics["accuracy"] >= 0.95 and metrics["auc"] >= 0.98
    assert len(result.records) == len(runner.dataset.images)
    assert result.runtime["detector"] == "none" and result.runtime["model"] == "edgeface_xs_gamma_06"


def test_images_without_faces_fall_back_to_the_centre_crop() -> None:
    result = run_benchmark("dataset.folds=[0]", "dataset.pairs_per_fold=20", NO_FACE)
    metrics = result.metrics
    assert metrics["success_rate"] == 0.0 and metrics["num_fallback_images"] == metrics["num_images"]
    assert metrics["num_pairs_scored"] == 20  # every pair is still scored
    assert all(record.status is ImageStatus.NO_FACE and record.fallback for record in result.records)
    assert all(sample.fallback and "fallback" in sample.caption for sample in result.samples)


def test_exclude_policy_scores_nothing_it_cannot_see() -> None:
    with pytest.raises(RuntimeError, match="no pair could be scored"):
        run_benchmark("dataset.folds=[0]", "dataset.pairs_per_fold=20", NO_FACE, "failure_policy=exclude")


def test_error_policy_names_the_image() -> None:
    with pytest.raises(NoFaceError, match=r"Abel_Pacheco_0001.jpg: no face found"):
        run_benchmark("dataset.folds=[0]", "dataset.pairs_per_fold=4", NO_FACE, "failure_policy=error")


def test_the_runner_closes_its_cache() -> None:
    config = bench_config(
        "dataset=lfw_aligned", "detector=none", "dataset.folds=[0]", "dataset.pairs_per_fold=4"
    )
    with BenchmarkRunner(config) as runner:
        cache = runner.cache.cache
        assert cache is not None
    assert runner.cache.cache is None
    with pytest.raises(Exception, match="closed"):
        cache.get_embeddings(runner.cache.embedding_key, ["0" * 32])


def test_detection_workers_give_the_same_results_as_one() -> None:
    """Each batch is detected and aligned on its own, by a detector of its worker's own, so two
    workers give exactly what one gives (here with a detector that is not thread-safe)."""
    subset = (
        "dataset.folds=[0]",
        "dataset.pairs_per_fold=40",
        "cache=off",
        "detector.options.backend=opencv",
    )
    one = run_benchmark(*subset, "pipeline.detect_workers=1", "hardware.batch_size=8")
    two = run_benchmark(*subset, "pipeline.detect_workers=2", "hardware.batch_size=8")
    assert (one.runtime["workers_detect"], two.runtime["workers_detect"]) == ("1", "2")
    np.testing.assert_array_equal(one.scores, two.scores)
    assert [record.status for record in one.records] == [record.status for record in two.records]


def test_the_detector_pool_lends_each_worker_its_own_detector() -> None:
    made: list[object] = []

    def make() -> Any:
        made.append(object())
        return made[-1]

    pool = DetectorPool(make, 2)
    with pool.lease() as first, pool.lease() as second:
        assert first is not second and {id(first), id(second)} == {id(item) for item in made}
    with pool.lease() as again:
        assert again in made
