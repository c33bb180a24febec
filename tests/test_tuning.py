"""Counts calibrated per CPU (``bench tune``): a run takes them for what its config leaves null,
records where its counts came from, and computes exactly what it computes without them."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from bench.calibrate import Measured, candidates, choose, embed_ms_per_face, measure
from bench.config import HardwareConfig, PipelineConfig
from bench.cpu import CpuInfo, cpu_info
from bench.runtime import Runtime
from bench.tuning import PipelineCounts, Tuning, cpu_key, load_tuning, method_key, save_tuning, tuning_path

from .conftest import run_benchmark
from .test_reliability import ONE_FOLD

CALIBRATED = PipelineCounts(
    decode_workers=1, detect_workers=1, embed_workers=3, detect_threads=2, embed_threads=1, embed_batch=32
)


YUNET = method_key("yunet", "edgeface_xs_gamma_06")


def calibration(counts: PipelineCounts = CALIBRATED, method: str = YUNET) -> Tuning:
    return Tuning(counts, 300.0, 250.0, method, 1000, "2026-12-08")


def test_a_calibration_is_kept_per_cpu_model_cores_and_cap() -> None:
    xeon = CpuInfo("Intel(R) Xeon(R) Gold 6338", 2, frozenset())
    assert cpu_key(xeon) == "intel-r-xeon-r-gold-6338-2c"
    assert cpu_key(CpuInfo(xeon.name, 8, frozenset())) == "intel-r-xeon-r-gold-6338-8c"
    assert cpu_key(CpuInfo(xeon.name, 2, frozenset(), cap="avx2")) == "intel-r-xeon-r-gold-6338-2c-avx2"
    save_tuning(calibration(), xeon)
    assert load_tuning(YUNET, xeon) == calibration()
    assert load_tuning(YUNET, CpuInfo(xeon.name, 8, frozenset())) is None
    assert load_tuning(method_key("mtcnn", "edgeface_xs_gamma_06"), xeon) is None  # per method


def test_null_counts_come_from_the_calibration_and_the_run_says_so() -> None:
    save_tuning(calibration())
    runtime = Runtime.from_config(HardwareConfig(), PipelineConfig(), YUNET)
    assert (runtime.decode_workers, runtime.detect_workers, runtime.embed_workers) == (1, 1, 3)
    assert (runtime.detect_threads, runtime.embed_threads, runtime.embed_batch_size) == (2, 1, 32)
    assert runtime.counts_source.startswith("bench tune, 2026-12-08")


def test_configured_counts_win_and_threads_follow_their_own_workers() -> None:
    save_tuning(calibration())
    runtime = Runtime.from_config(HardwareConfig(num_workers=2), PipelineConfig(embed_workers=1), YUNET)
    assert (runtime.decode_workers, runtime.detect_workers, runtime.embed_workers) == (2, 1, 1)
    assert runtime.detect_threads == 2  # calibrated with one detection worker, which this run has
    # The calibration's embedding threads were measured with 3 workers, not with 1: the split rule.
    split = Runtime.from_config(HardwareConfig(), PipelineConfig(tuned=False, embed_workers=1), YUNET)
    assert runtime.embed_threads == split.embed_threads


def test_no_calibration_for_the_naive_pipeline_or_when_turned_off() -> None:
    save_tuning(calibration())
    built_in = Runtime.from_config(HardwareConfig(), PipelineConfig(tuned=False), YUNET)
    assert (built_in.decode_workers, built_in.detect_workers, built_in.embed_workers) == (2, 2, 2)
    assert built_in.embed_batch_size == 64
    assert "no calibration" in built_in.counts_source
    naive = Runtime.from_config(HardwareConfig(num_workers=0), PipelineConfig(overlap=False), YUNET)
    other_method = Runtime.from_config(HardwareConfig(), PipelineConfig(), method_key("mtcnn", "sface_int8"))
    assert other_method.detect_workers == 2 and "no calibration" in other_method.counts_source
    assert (naive.decode_workers, naive.detect_workers, naive.embed_workers) == (0, 1, 1)
    assert naive.detect_threads == naive.embed_threads == cpu_info().cores


def test_a_damaged_calibration_is_reported_and_ignored(caplog: pytest.LogCaptureFixture) -> None:
    path = tuning_path(YUNET)
    path.parent.mkdir(parents=True, exist_ok=True)
    for text in ("{not json", json.dumps({"counts": {"decode_workers": 1}}), json.dumps({"images_per_s": 1})):
        path.write_text(text)
        with caplog.at_level(logging.WARNING, logger="bench.tuning"):
            assert load_tuning(YUNET) is None
        assert str(path) in caplog.text and "bench tune" in caplog.text
    bad = calibration(PipelineCounts(1, 0, 1, 1, 1, 32))
    save_tuning(bad)
    assert load_tuning(YUNET) is None
    assert Runtime.from_config(HardwareConfig(), PipelineConfig(), YUNET).detect_workers == 2


def test_candidates_start_with_the_built_in_counts_and_are_distinct() -> None:
    found = candidates(2, embed_batch=32)
    assert found[0] == PipelineCounts(2, 2, 2, 1, 1, 64)  # the built-in counts, at the built-in batch
    assert len(found) == len(set(found)) == 15  # the built-in counts at both batches
    assert PipelineCounts(0, 1, 1, 1, 1, 32) in found and PipelineCounts(2, 1, 1, 1, 2, 32) in found
    for counts in candidates(8, embed_batch=32):  # no stage on more threads than cores
        assert (
            max(counts.detect_workers * counts.detect_threads, counts.embed_workers * counts.embed_threads)
            <= 8
        )


def test_oversubscribing_the_cores_must_win_by_the_margin() -> None:
    fits = Measured(PipelineCounts(0, 1, 1, 1, 1, 32), 100.0, 10)
    crowded = Measured(PipelineCounts(2, 2, 2, 1, 1, 32), 102.0, 10)
    assert choose([fits, crowded], cores=2, margin=0.03) is fits
    faster = Measured(crowded.counts, 104.0, 10)
    assert choose([fits, faster], cores=2, margin=0.03) is faster
    assert choose([crowded], cores=2, margin=0.03) is crowded  # nothing fits: the fastest


@pytest.mark.skipif(torch.cuda.is_available(), reason="counts are calibrated on the CPU")
def test_calibrated_counts_change_no_result(tmp_path: Path) -> None:
    reference = run_benchmark(*ONE_FOLD, "cache=off", "pipeline.tuned=false")
    save_tuning(calibration(PipelineCounts(0, 2, 1, 1, 2, 16)))
    tuned = run_benchmark(*ONE_FOLD, "cache=off")
    assert tuned.runtime["counts_from"].startswith("bench tune")
    assert (tuned.runtime["workers_detect"], tuned.runtime["workers_embed"]) == ("2", "1")
    np.testing.assert_array_equal(tuned.scores, reference.scores)
    assert tuned.metrics["accuracy"] == reference.metrics["accuracy"]


def test_a_candidate_is_measured_on_the_real_pipeline() -> None:
    measured = measure(PipelineCounts(0, 1, 1, 1, 1, 32), [*ONE_FOLD])
    assert measured.images > 0 and measured.images_per_s > 0
    batches = embed_ms_per_face([*ONE_FOLD])
    assert sorted(batches) == [16, 32, 64, 128] and all(ms > 0 for ms in batches.values())
