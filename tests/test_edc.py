"""Error-versus-discard curves: hand-computed values, the references, and the files."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy.integrate import quad

from bench.metrics.edc import (
    PAUC_DISCARD_LIMIT,
    error_versus_discard,
    fmr_threshold,
    ideal_fnmr,
    ideal_pauc,
    pair_quality,
    step_pauc,
)
from bench.reporting.edc import EDC_COLUMNS, edc_report, plot_edc, write_edc_table
from bench.reporting.safe_csv import read_table

# Ten impostors 0.05..0.50; at FMR 0.1 one of them may match, so the threshold is the lowest
# observed score above 0.45: the genuine 0.46. Genuine 0.2 and 0.3 fall below it: FNMR 2/8.
IMPOSTOR_SCORES = np.round(np.arange(1, 11) * 0.05, 2)
GENUINE_SCORES = np.array([0.2, 0.3, 0.46, 0.48, 0.7, 0.8, 0.9, 0.95])
# Quality order: error, match, match, match, error, match, match, match.
GENUINE_QUALITY = np.array([0.1, 0.5, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8])


def pairs(impostor_quality: float = np.nan) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    scores = np.concatenate([GENUINE_SCORES, IMPOSTOR_SCORES])
    labels = np.repeat([1, 0], [GENUINE_SCORES.size, IMPOSTOR_SCORES.size])
    quality = np.concatenate([GENUINE_QUALITY, np.full(IMPOSTOR_SCORES.size, impostor_quality)])
    return scores, labels, quality


def test_edc_and_pauc_equal_hand_computed_values() -> None:
    result = error_versus_discard("hand", *pairs(), target_fmr=0.1)
    assert result.threshold == 0.46
    assert result.fmr == 0.1
    assert (result.num_genuine, result.num_impostor) == (8, 10)
    np.testing.assert_allclose(result.discard_fractions, np.arange(9) / 8)
    expected = [2 / 8, 1 / 7, 1 / 6, 1 / 5, 1 / 4, 0, 0, 0, 0]
    np.testing.assert_allclose(result.fnmr, expected, rtol=1e-15)
    # Steps: 2/8 on [0, 1/8), then 1/7 up to the limit 0.2.
    assert result.pauc_20 == pytest.approx(0.125 * 2 / 8 + 0.075 / 7, rel=1e-14)
    assert result.random_pauc_20 == pytest.approx(0.25 * 0.2, rel=1e-14)
    assert result.ideal_pauc_20 == pytest.approx(0.2 + 0.75 * math.log(0.8), rel=1e-14)
    assert result.initial_fnmr == 0.25


def test_impostor_qualities_do_not_matter() -> None:
    low, high = (error_versus_discard("s", *pairs(quality), target_fmr=0.1) for quality in (-5.0, 5.0))
    np.testing.assert_array_equal(low.fnmr, high.fnmr)
    np.testing.assert_array_equal(low.discard_fractions, high.discard_fractions)


def test_step_pauc_is_exact_within_and_across_the_limit() -> None:
    fractions = np.array([0.0, 0.1, 0.3, 1.0])
    fnmr = np.array([0.4, 0.2, 0.1, 0.0])
    assert step_pauc(fractions, fnmr, 0.2) == pytest.approx(0.1 * 0.4 + 0.1 * 0.2, rel=1e-14)
    assert step_pauc(fractions, fnmr, 1.0) == pytest.approx(0.04 + 0.04 + 0.07, rel=1e-14)


@pytest.mark.parametrize("initial", [0.0, 0.03, 0.2, 0.25, 0.6, 1.0])
def test_ideal_pauc_matches_numerical_integration(initial: float) -> None:
    area, _ = quad(
        lambda d: float(ideal_fnmr(initial, np.array([d]))[0]),
        0,
        PAUC_DISCARD_LIMIT,
        points=[initial] if initial < PAUC_DISCARD_LIMIT else None,
        epsabs=1e-13,
    )
    assert ideal_pauc(initial) == pytest.approx(area, abs=1e-12)


def test_ideal_curve_reaches_zero_at_the_initial_fnmr() -> None:
    initial = 0.25
    curve = ideal_fnmr(initial, np.array([0.0, 0.1, initial - 1e-9, initial, 0.5, 1.0]))
    assert curve[0] == initial
    assert curve[2] > 0
    np.testing.assert_array_equal(curve[3:], 0.0)
    # A signal that ranks every error lowest is the ideal at each of its points, 0 from d = FNMR.
    scores, labels, _ = pairs()
    errors_lowest = np.where(scores < 0.46, 0.0, 1.0)
    perfect = error_versus_discard("perfect", scores, labels, errors_lowest, target_fmr=0.1)
    np.testing.assert_allclose(perfect.fnmr, ideal_fnmr(initial, perfect.discard_fractions), atol=1e-15)
    assert perfect.fnmr[perfect.discard_fractions == initial] == 0
    assert perfect.pauc_20 >= perfect.ideal_pauc_20  # the steps lie on or above the smooth ideal


def test_random_discard_is_flat_in_expectation() -> None:
    rng = np.random.default_rng(7)
    num_genuine, num_errors, draws = 200, 20, 400
    initial = num_errors / num_genuine
    scores = np.concatenate(
        [np.full(num_errors, -0.5), np.full(num_genuine - num_errors, 0.9), rng.uniform(-1, 0.5, 300)]
    )
    labels = np.repeat([1, 0], [num_genuine, 300])
    checked = np.array([20, 40, 100])  # discard counts: 10 %, 20 %, 50 %
    fnmr_sums = np.zeros(checked.size)
    paucs = []
    for _ in range(draws):
        result = error_versus_discard("random", scores, labels, rng.uniform(size=labels.size))
        assert result.initial_fnmr == initial
        # Continuous qualities have no ties: one point per discarded comparison.
        fnmr_sums += result.fnmr[checked]
        paucs.append(result.pauc_20)
    # With k discarded at random, the errors among the n - k kept are hypergeometric: mean FNMR
    # exactly F, variance F (1 - F) / (n - k) * k / (n - 1). Five standard errors of the mean
    # over the draws make a false failure about one in a million.
    variance = initial * (1 - initial) / (num_genuine - checked) * checked / (num_genuine - 1)
    np.testing.assert_array_less(np.abs(fnmr_sums / draws - initial), 5 * np.sqrt(variance / draws))
    # The pAUC's expectation is F * 0.2 (each step's is F * its width); its standard deviation is
    # at most 0.2 times the largest step's, and k / (n - k) <= 1/4 for k <= 0.2 n.
    pauc_sd = PAUC_DISCARD_LIMIT * math.sqrt(initial * (1 - initial) / 4 / (num_genuine - 1))
    assert abs(np.mean(paucs) - result.random_pauc_20) < 5 * pauc_sd / math.sqrt(draws)


def test_curve_is_invariant_to_pair_order_and_ties_discard_together() -> None:
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 500)
    scores = rng.normal(size=500) + 1.5 * labels
    quality = rng.integers(0, 6, 500).astype(float)  # six levels, many ties
    result = error_versus_discard("tied", scores, labels, quality, target_fmr=0.01)
    order = rng.permutation(500)
    permuted = error_versus_discard("tied", scores[order], labels[order], quality[order], target_fmr=0.01)
    np.testing.assert_array_equal(result.discard_fractions, permuted.discard_fractions)
    np.testing.assert_array_equal(result.fnmr, permuted.fnmr)
    assert (result.pauc_20, result.threshold) == (permuted.pauc_20, permuted.threshold)
    # One point per quality level (plus the start), each a whole tie group discarded.
    genuine_quality = quality[labels == 1]
    levels, counts = np.unique(genuine_quality, return_counts=True)
    assert result.discard_fractions.size == levels.size + 1
    np.testing.assert_allclose(result.discard_fractions[1:], np.cumsum(counts) / genuine_quality.size)
    errors = scores[labels == 1] < result.threshold
    kept = genuine_quality > levels[0]
    assert result.fnmr[1] == pytest.approx(errors[kept].mean(), rel=1e-15)


def test_threshold_uses_the_lowest_fmr_the_impostors_support() -> None:
    scores, labels, _ = pairs()  # ten impostors: the lowest measurable FMR is 0.1
    assert fmr_threshold(scores, labels, 1e-3) == (0.46, 0.1)
    assert fmr_threshold(scores, labels, 0.1) == (0.46, 0.1)
    assert error_versus_discard("s", *pairs()).fmr == 0.1  # the default target, 1e-3, raised
    # A target the impostors support is kept; 0.3 lets three of them match (>= 0.40).
    threshold, fmr = fmr_threshold(scores, labels, 0.3)
    assert (threshold, fmr) == (0.4, 0.3)
    impostors = scores[labels == 0]
    measured = np.mean(impostors >= threshold)
    next_lower = np.mean(impostors >= 0.35)  # the next observed score down breaks the budget
    assert measured <= fmr < next_lower


def test_threshold_rejects_all_when_the_top_impostors_tie() -> None:
    scores = np.array([0.9, 0.9, 0.9, 0.5])
    labels = np.array([0, 0, 0, 1])
    threshold, fmr = fmr_threshold(scores, labels, 1e-3)
    assert fmr == pytest.approx(1 / 3)
    assert math.isfinite(threshold) and threshold > 0.9
    assert error_versus_discard("s", scores, labels, np.ones(4)).initial_fnmr == 1.0


def test_nan_qualities_are_discarded_first() -> None:
    scores, labels, _ = pairs()
    quality = np.where(scores < 0.46, np.nan, np.arange(scores.size, dtype=float))
    result = error_versus_discard("nan", scores, labels, quality, target_fmr=0.1)
    # The two errors carry NaN: discarding them (d = 2/8) leaves no error.
    np.testing.assert_allclose(result.discard_fractions[:2], [0, 2 / 8])
    np.testing.assert_array_equal(result.fnmr[:2], [2 / 8, 0])
    minus_inf = error_versus_discard("-inf", scores, labels, np.nan_to_num(quality, nan=-np.inf), 0.1)
    np.testing.assert_array_equal(result.fnmr, minus_inf.fnmr)


def test_pair_quality_is_the_lower_and_nan_is_lowest() -> None:
    quality = pair_quality(np.array([0.3, 0.9, np.nan, 0.2]), np.array([0.7, 0.4, 0.8, np.nan]))
    np.testing.assert_array_equal(quality, [0.3, 0.4, np.nan, np.nan])


@pytest.mark.parametrize(
    ("labels", "quality", "target"),
    [
        (np.ones(4), np.ones(4), 1e-3),  # no impostors
        (np.array([1, 0, 1, 2]), np.ones(4), 1e-3),
        (np.array([1, 0, 1, 0]), np.ones(3), 1e-3),
        (np.array([1, 0, 1, 0]), np.ones(4), 0.0),
    ],
)
def test_bad_input_is_refused(labels: np.ndarray, quality: np.ndarray, target: float) -> None:
    with pytest.raises(ValueError):
        error_versus_discard("s", np.arange(4.0), labels, quality, target)


def results() -> list:
    scores, labels, quality = pairs()
    return [
        error_versus_discard("=face quality", scores, labels, quality, target_fmr=0.1),
        error_versus_discard("detector score", scores, labels, -quality, target_fmr=0.1),
    ]


def test_csv_has_exactly_the_columns(tmp_path: Path) -> None:
    written = results()
    path = write_edc_table(written, tmp_path / "edc.csv")
    header = path.read_text().splitlines()[0]
    assert header == '"signal","pauc_20","random_pauc_20","ideal_pauc_20","fmr","threshold"'
    table = read_table(path)
    assert list(table.columns) == list(EDC_COLUMNS)
    assert table["signal"].tolist() == ["=face quality", "detector score"]  # defused, read back
    np.testing.assert_allclose(table["pauc_20"], [result.pauc_20 for result in written], rtol=1e-15)
    assert table["fmr"].tolist() == [0.1, 0.1] and table["threshold"].tolist() == [0.46, 0.46]


def test_plot_and_report_write_pngs(tmp_path: Path) -> None:
    path = plot_edc(results(), tmp_path / "nested" / "edc.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    files = edc_report(results(), tmp_path / "report")
    assert [file.name for file in files] == ["edc.csv", "edc.png"]
    assert all(file.stat().st_size > 0 for file in files)
    with pytest.raises(ValueError):
        plot_edc([], tmp_path / "empty.png")
