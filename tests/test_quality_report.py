"""A sweep's quality reports on constructed jobs: each job's signals against random discard, and
one model's signals scored against another model's errors (pure logic; the real sweep is in
``test_quality_sweep``)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.metrics import keys
from bench.quality.evaluation import signal_medians
from bench.reporting.quality import (
    EDC_BY_JOB_FILE,
    EDC_CROSS_MODEL_FILE,
    EDC_MARKDOWN,
    QualityRun,
    cross_model_edc,
    edc_by_job,
    quality_report,
)

IMAGES = [f"person_{index}/person_{index}_0001.jpg" for index in range(20)]


def pairs() -> pd.DataFrame:
    """Ten genuine pairs, images ``2i`` and ``2i + 1``, each a tenth of them: pairs 0-4 score
    0.2, pairs 5-9 score 0.9. Ten impostor pairs score 0.1 to 0.5: at the lowest measurable FMR
    (1/10) the threshold is their top score, 0.5, so pairs 0-4 are the false non-matches: FNMR
    0.5, and random discard's area up to 20 % is 0.5 x 0.2 = 0.1."""
    rows = [(0, IMAGES[2 * i], IMAGES[2 * i + 1], 1, 0.2 if i < 5 else 0.9, 1) for i in range(10)]
    impostors = [(2 * i, 2 * (i + 5) + 1) for i in range(5)] + [(2 * i + 1, 2 * (i + 5)) for i in range(5)]
    for (a, b), score in zip(impostors, np.linspace(0.1, 0.5, 10), strict=True):
        rows.append((0, IMAGES[a], IMAGES[b], 0, float(score), 1))
    return pd.DataFrame(rows, columns=["fold", "image_a", "image_b", "same", "score", "both_detected"])


def quality(norms: list[float]) -> pd.DataFrame:
    frame = pd.DataFrame({"image": IMAGES, "stressed": 0, "status": "detected", "fallback": 0})
    frame["embedding_norm"] = norms
    frame["mirror_agreement"] = math.nan
    return frame


def job(label: str, model: str, norms: list[float], setting: str = "run", **metrics: float) -> QualityRun:
    return QualityRun(label, model, setting, {keys.EDC_FMR: 0.1, **metrics}, pairs(), quality(norms))


def per_pair(values: list[float]) -> list[float]:
    """The same value for both images of each genuine pair."""
    return [value for value in values for _ in range(2)]


#: Low norms on the false non-matches' images (pair i: 1 + i), high on the matches': discarding
#: by it takes an error at each step, FNMR 5/10 -> 4/9 at 10 % and 3/8 at 20 %; its area up to
#: 20 % is 0.1 x 0.5 + 0.1 x 4/9 = 0.09444..., 17/18 of random discard's.
KNOWS = per_pair([1, 2, 3, 4, 5, 11, 12, 13, 14, 15])
#: The reverse: matches first, FNMR 5/10 -> 5/9 -> 5/8; area 0.1 x 0.5 + 0.1 x 5/9, 19/18.
WRONG = per_pair([11, 12, 13, 14, 15, 1, 2, 3, 4, 5])


def test_each_job_gets_its_signals_ratio_to_random_discard() -> None:
    random, ideal = 0.1, 0.05
    run = QualityRun(
        "yunet",
        "x",
        "run",
        {
            keys.EDC_RANDOM_PAUC: random,
            keys.EDC_IDEAL_PAUC: ideal,
            keys.EDC_FMR: 1e-3,
            keys.edc_pauc("detector_score"): 0.08,
            keys.edc_pauc("sharpness"): 0.1,
        },
    )
    no_curve = QualityRun("center_crop", "x", "run", {keys.ACCURACY: 0.9})
    table = edc_by_job([run, no_curve])
    assert table["job"].tolist() == ["yunet"]  # a job without a curve has no row
    row = table.iloc[0]
    assert row["fnmr"] == pytest.approx(0.5)  # random discard's area is FNMR x 0.2
    assert row["ideal"] == pytest.approx(0.5)
    assert row["detector_score"] == pytest.approx(0.8) and row["sharpness"] == pytest.approx(1.0)
    assert math.isnan(row["yaw_deg"])  # not measured: absent, not invented


def test_one_models_signal_is_scored_against_the_other_models_errors() -> None:
    # The same pairs and scores for both models, so each model's norm ranks both models' errors.
    crossed = cross_model_edc([job("edgeface", "edgeface", WRONG), job("sface", "sface", KNOWS)])
    norm = crossed[crossed["signal"] == "embedding_norm"].set_index(["graded", "grader"])
    assert norm.loc[("edgeface", "sface"), "ratio"] == pytest.approx(17 / 18)
    assert norm.loc[("edgeface", "edgeface"), "ratio"] == pytest.approx(19 / 18)
    assert norm.loc[("sface", "edgeface"), "ratio"] == pytest.approx(19 / 18)
    assert norm.loc[("sface", "sface"), "ratio"] == pytest.approx(17 / 18)
    assert crossed["random_pauc_20"].tolist() == pytest.approx([0.1] * 4)
    assert norm.loc[("edgeface", "sface"), "pauc_20"] == pytest.approx(0.05 + 0.1 * 4 / 9)
    # No model measured mirror agreement: that signal is absent, not a row of NaN.
    assert set(crossed["signal"]) == {"embedding_norm"}


def test_jobs_of_different_settings_or_one_model_do_not_cross() -> None:
    clean = job("clean", "edgeface", KNOWS, setting="stress.name=none")
    noisy = job("noisy", "sface", KNOWS, setting="stress.name=gaussian_noise")
    assert cross_model_edc([clean, noisy]).empty
    same_model = [job("yunet", "edgeface", KNOWS), job("mtcnn", "edgeface", WRONG)]
    assert cross_model_edc(same_model).empty


def test_an_image_in_two_states_gives_no_crossed_signal() -> None:
    # One-sided stress: an image degraded in one pair and clean in another has two rows, and
    # pair scores cannot tell which of them a pair used.
    doubled = quality(KNOWS)
    doubled = pd.concat([doubled, doubled.assign(stressed=1)], ignore_index=True)
    graded = job("edgeface", "edgeface", WRONG)
    grader = QualityRun("sface", "sface", "run", {keys.EDC_FMR: 0.1}, pairs(), doubled)
    crossed = cross_model_edc([graded, grader])
    assert set(crossed["grader"]) == {"edgeface"}


def test_the_report_files(tmp_path: Path) -> None:
    metrics = {keys.EDC_RANDOM_PAUC: 0.1, keys.EDC_IDEAL_PAUC: 0.05, keys.edc_pauc("embedding_norm"): 0.07}
    runs = [job("edgeface", "edgeface", WRONG, **metrics), job("sface", "sface", KNOWS, **metrics)]
    files = quality_report(runs, tmp_path)
    assert {path.name for path in files} == {
        EDC_BY_JOB_FILE,
        "edc_by_job.png",
        EDC_CROSS_MODEL_FILE,
        EDC_MARKDOWN,
    }
    markdown = (tmp_path / EDC_MARKDOWN).read_text()
    assert "| edgeface | 50.00% | 0.500 | **0.700** |" in markdown
    assert "### embedding_norm" in markdown and "| errors of \\ signal of | edgeface | sface |" in markdown
    assert quality_report([QualityRun("x", "x", "run", {})], tmp_path / "none") == []
    assert not (tmp_path / "none").exists()


def test_a_signals_median_is_over_the_images_that_have_it_and_an_angles_size() -> None:
    medians = signal_medians(
        {"detector_score": np.array([0.9, np.nan, 0.7, 0.8]), "yaw_deg": np.array([-30.0, 10.0, 20.0])}
    )
    assert medians == {keys.quality_median("detector_score"): 0.8, keys.quality_median("yaw_deg"): 20.0}
    assert signal_medians({"sharpness": np.array([np.nan])}) == {}
