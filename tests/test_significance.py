"""Significance of differences between methods on the same pairs: hand-worked tests, the per-pair
decisions against the accuracy the runs report, and the grouping."""

from __future__ import annotations

import string

import numpy as np
import pytest
from scipy.stats import binomtest

from bench.metrics import (
    CrossValidatedDecisions,
    bootstrap_accuracies,
    cross_validated_decisions,
    evaluate_verification,
    holm,
    letter_groups,
    mcnemar_exact,
    pairwise_significance,
)


def discordant(n01: int, n10: int, both_right: int = 20, both_wrong: int = 5) -> tuple[np.ndarray, ...]:
    """Per-pair decisions of A and B with the given discordant counts, in a shuffled order."""
    a = np.repeat([False, True, True, False], [n01, n10, both_right, both_wrong])
    b = np.repeat([True, False, True, False], [n01, n10, both_right, both_wrong])
    order = np.random.default_rng(0).permutation(a.size)
    return a[order], b[order]


def decided(correct: np.ndarray, fold: np.ndarray) -> CrossValidatedDecisions:
    thresholds = (0.0,) * int(fold.max() + 1)
    return CrossValidatedDecisions(np.asarray(correct, dtype=bool), fold, thresholds, "official_folds")


def test_mcnemar_by_hand() -> None:
    # 2 of 12 discordant pairs for A: 2 * P(X <= 2), X ~ Binomial(12, 1/2) = 2 * (1 + 12 + 66) / 4096.
    test = mcnemar_exact(*discordant(10, 2))
    assert (test.n01, test.n10) == (10, 2)
    assert test.p_value == pytest.approx(158 / 4096, rel=1e-12)
    assert test.p_value == pytest.approx(binomtest(2, 12, 0.5).pvalue)
    swapped = mcnemar_exact(*reversed(discordant(10, 2)))
    assert (swapped.n01, swapped.n10, swapped.p_value) == (2, 10, test.p_value)
    assert mcnemar_exact(*discordant(3, 3)).p_value == 1.0
    assert mcnemar_exact(*discordant(0, 0)).p_value == 1.0  # decide alike: no evidence either way
    # 6 of 6 for A: 2 / 64; the concordant pairs do not matter.
    assert mcnemar_exact(*discordant(0, 6, both_right=500)).p_value == pytest.approx(2 / 64)
    with pytest.raises(ValueError, match="shapes"):
        mcnemar_exact(np.ones(3, bool), np.ones(4, bool))


def lfw_like(seed: int, separation: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """10 folds of 30 same and 30 different pairs; scores rounded so that ties occur."""
    rng = np.random.default_rng(seed)
    labels = np.tile(np.repeat([1, 0], 30), 10)
    folds = np.repeat(np.arange(10), 60)
    return np.round(rng.normal(0, 1, labels.size) + separation * labels, 1), labels, folds


@pytest.mark.parametrize("seed", range(4))
def test_decisions_are_the_reported_accuracy(seed: int) -> None:
    scores, labels, folds = lfw_like(seed, separation=1.0)
    keep = np.random.default_rng(seed).random(labels.size) > 0.2  # a common subset: uneven folds
    for fold_ids in (folds[keep] * 3 + 7, None):  # official folds (any ids), stratified fallback
        result = evaluate_verification(scores[keep], labels[keep], fold_ids)
        decisions = cross_validated_decisions(scores[keep], labels[keep], fold_ids)
        assert decisions.fold_accuracies == result.fold_accuracies
        assert decisions.accuracy == result.accuracy
        assert (decisions.thresholds, decisions.split) == (result.fold_thresholds, result.split)
        threshold = np.array(decisions.thresholds)[decisions.fold]
        assert np.array_equal(decisions.correct, (scores[keep] >= threshold) == (labels[keep] == 1))
        for index, accuracy in enumerate(result.fold_accuracies):
            assert decisions.correct[decisions.fold == index].mean() == accuracy


def test_bootstrap_is_paired_and_deterministic() -> None:
    rng = np.random.default_rng(1)
    fold = np.repeat(np.arange(4), [30, 25, 30, 20])
    correct = rng.random((3, fold.size)) < [[0.9], [0.8], [0.5]]
    samples = bootstrap_accuracies(correct, fold, resamples=500)
    assert samples.shape == (3, 500)
    assert np.array_equal(samples, bootstrap_accuracies(correct, fold, resamples=500))
    assert not np.array_equal(samples, bootstrap_accuracies(correct, fold, resamples=500, seed=1))
    accuracies = [decided(row, fold).accuracy for row in correct]
    assert samples.mean(axis=1) == pytest.approx(accuracies, abs=0.01)
    # The same draws for every method: a copy of a method differs from it by exactly 0.
    twins = bootstrap_accuracies(correct[[0, 0]], fold, resamples=50)
    assert np.array_equal(twins[0], twins[1])
    # One pair per fold: every sample draws the same pairs, so the accuracy never moves.
    single = bootstrap_accuracies(correct[:, :4], np.arange(4), resamples=20)
    assert np.array_equal(single, np.repeat(correct[:, :4].mean(axis=1, keepdims=True), 20, axis=1))


def test_holm_by_hand() -> None:
    # Sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04 -> non-decreasing.
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.6]).tolist() == [1.0, 1.0]
    assert holm([0.02]).tolist() == [0.02]
    assert holm([]).size == 0


def test_letter_groups() -> None:
    ranked = list("ABCDE")
    differ = {frozenset(pair) for pair in ("AC", "AD", "AE", "BD", "BE")}
    groups = letter_groups(ranked, differ)
    assert groups == {"a": ["A", "B"], "b": ["B", "C"], "c": ["C", "D", "E"]}
    assert letter_groups(ranked, set()) == {"a": ranked}
    every = {frozenset((a, b)) for a in ranked for b in ranked if a != b}
    assert letter_groups(ranked, every) == {"a": ["A"], "b": ["B"], "c": ["C"], "d": ["D"], "e": ["E"]}
    # Two methods the test does not tell apart share a letter even when a method between them
    # differs from one of them (a full LFW sweep: mtcnn, yolov8_face, ..., yunet).
    ranked = ["mtcnn", "yolov8_face", "yolov5_face", "mesh", "yunet"]
    groups = letter_groups(ranked, {frozenset(("yolov8_face", "yunet"))})
    assert groups == {"a": ranked[:4], "b": ["mtcnn", *ranked[2:]]}
    many = [f"m{index}" for index in range(54)]
    names = list(letter_groups(many, {frozenset((a, b)) for a in many for b in many if a != b}))
    assert names == [*string.ascii_letters, "(53)", "(54)"]


def test_pairwise_significance() -> None:
    fold = np.repeat(np.arange(5), 40)
    rng = np.random.default_rng(2)
    truth = {"weak": 0.6, "good": 0.9, "good too": 0.9, "best": 0.97}
    decisions = {name: decided(rng.random(fold.size) < rate, fold) for name, rate in truth.items()}
    result = pairwise_significance(decisions, resamples=400)
    assert result.ranked[0] == "best" and result.ranked[-1] == "weak"
    assert result.num_pairs == 200 and len(result.tests) == 6
    assert holm([test.p_value for test in result.tests]) == pytest.approx([t.p_holm for t in result.tests])
    samples = bootstrap_accuracies(
        np.array([decisions[name].correct for name in result.ranked]), fold, resamples=400
    )
    for test in result.tests:
        a, b = result.ranked.index(test.method_a), result.ranked.index(test.method_b)
        assert a < b and test.difference == test.accuracy_a - test.accuracy_b >= 0
        assert test.accuracy_a == decisions[test.method_a].accuracy
        mcnemar = mcnemar_exact(decisions[test.method_a].correct, decisions[test.method_b].correct)
        assert (test.n01, test.n10, test.p_value) == (mcnemar.n01, mcnemar.n10, mcnemar.p_value)
        assert (test.ci_low, test.ci_high) == tuple(np.quantile(samples[a] - samples[b], [0.025, 0.975]))
        assert test.significant == (test.p_holm < 0.05)
        share = set(result.letters[test.method_a]) & set(result.letters[test.method_b])
        assert not (share and test.significant)
    assert not set(result.letters["weak"]) & set(result.letters["best"])  # 60 % against 97 %, 200 pairs
    assert list(result.letters) == result.ranked
    assert pairwise_significance(decisions, resamples=400) == result


def test_pairwise_significance_needs_the_same_pairs() -> None:
    fold = np.repeat(np.arange(2), 5)
    one = decided(np.ones(10, bool), fold)
    with pytest.raises(ValueError, match="at least 2"):
        pairwise_significance({"one": one})
    with pytest.raises(ValueError, match="same pairs"):
        pairwise_significance({"one": one, "other": decided(np.ones(10, bool), fold[::-1])})
