"""The runner on real LFW subsets: scoring, failure policies, records."""

from __future__ import annotations

from typing import Any

import pytest
from omegaconf import OmegaConf

from bench.pipeline import BenchmarkRunner, ImageStatus

from .conftest import compose_config


def resolved_config(overrides: list[str]) -> dict[str, Any]:
    config = OmegaConf.to_container(compose_config(["progress=false", *overrides]), resolve=True)
    assert isinstance(config, dict)
    return config


def test_reference_aligned_faces_score_high() -> None:
    runner = BenchmarkRunner(
        resolved_config(
            ["dataset=lfw_aligned", "detector=none", "dataset.folds=[0]", "dataset.pairs_per_fold=100"]
        )
    )
    result = runner.run()
    metrics = result.metrics
    assert metrics["num_pairs_scored"] == 100 and metrics["success_rate"] == 1.0
    assert metrics["accuracy"] >= 0.95 and metrics["auc"] >= 0.98
    assert len(result.records) == len(runner.dataset.images)
    assert result.runtime["detector"] == "none" and result.runtime["model"] == "edgeface_xs_gamma_06"


def test_images_without_faces_fall_back_to_the_centre_crop() -> None:
    # An impossible score threshold: YuNet accepts no face, so every image falls back.
    result = BenchmarkRunner(
        resolved_config(
            ["dataset.folds=[0]", "dataset.pairs_per_fold=20", "detector.options.score_threshold=1.01"]
        )
    ).run()
    metrics = result.metrics
    assert metrics["success_rate"] == 0.0 and metrics["num_fallback_images"] == metrics["num_images"]
    assert metrics["num_pairs_scored"] == 20  # every pair is still scored
    assert all(record.status is ImageStatus.NO_FACE and record.fallback for record in result.records)
    assert all(sample.fallback and "fallback" in sample.caption for sample in result.samples)


def test_exclude_policy_scores_nothing_it_cannot_see() -> None:
    runner = BenchmarkRunner(
        resolved_config(
            [
                "dataset.folds=[0]",
                "dataset.pairs_per_fold=20",
                "detector.options.score_threshold=1.01",
                "failure_policy=exclude",
            ]
        )
    )
    with pytest.raises(RuntimeError, match="no pair could be scored"):
        runner.run()


def test_error_policy_names_the_image() -> None:
    runner = BenchmarkRunner(
        resolved_config(
            [
                "dataset.folds=[0]",
                "dataset.pairs_per_fold=2",
                "detector.options.score_threshold=1.01",
                "failure_policy=error",
            ]
        )
    )
    with pytest.raises(RuntimeError, match=r"Abel_Pacheco_0001.jpg: no face found"):
        runner.run()


def test_unknown_failure_policy() -> None:
    with pytest.raises(ValueError, match="'skip' is not a valid FailurePolicy"):
        BenchmarkRunner(resolved_config(["failure_policy=skip"]))
