"""Verification metrics: hand-worked cases and brute-force re-implementations."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.interpolate import interp1d
from scipy.optimize import brentq
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from bench.metrics import (
    VerificationResult,
    best_accuracy_threshold,
    evaluate_pairs,
    evaluate_verification,
    keys,
    pair_scores,
)

# Two folds of four pairs, worked out by hand in test_hand_worked_folds.
HAND_SCORES = np.array([0.9, 0.6, 0.4, 0.1, 0.8, 0.7, 0.3, 0.2])
HAND_LABELS = np.array([1, 1, 0, 0, 1, 0, 1, 0])
HAND_FOLDS = np.array([0, 0, 0, 0, 1, 1, 1, 1])


def lfw_like(rng: np.random.Generator, separation: float = 1.5) -> tuple[np.ndarray, ...]:
    """6000 pairs in 10 folds of 300 same + 300 different, Gaussian scores."""
    labels = np.tile(np.repeat([1, 0], 300), 10)
    folds = np.repeat(np.arange(10), 600)
    scores = rng.normal(0.0, 1.0, labels.size) + separation * labels
    return scores, labels, folds


def brute_best_threshold(scores: np.ndarray, labels: np.ndarray) -> float:
    """Every observed score and one above all of them, tried one by one; ties -> largest."""
    candidates = np.append(np.unique(scores), np.nextafter(scores.max(), np.inf))
    best_threshold, best_accuracy = None, -1.0
    for threshold in sorted(candidates, reverse=True):
        accuracy = np.mean((scores >= threshold) == (labels == 1))
        if accuracy > best_accuracy:
            best_threshold, best_accuracy = threshold, accuracy
    return float(best_threshold)


def brute_cv_accuracy(scores, labels, splits) -> tuple[list[float], list[float]]:
    accuracies, thresholds = [], []
    for train, test in splits:
        threshold = brute_best_threshold(scores[train], labels[train])
        accuracies.append(float(np.mean((scores[test] >= threshold) == (labels[test] == 1))))
        thresholds.append(threshold)
    return accuracies, thresholds


def brute_rates(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(FAR, FRR) at every observed score as threshold."""
    thresholds = np.unique(scores)
    same, different = scores[labels == 1], scores[labels == 0]
    far = np.array([np.mean(different >= t) for t in thresholds])
    frr = np.array([np.mean(same < t) for t in thresholds])
    return far, frr


# --- hand-worked cases -------------------------------------------------------------------------


def test_perfectly_separable() -> None:
    scores = np.array([0.9, 0.8, 0.7, 0.2, 0.1, 0.0] * 2)
    labels = np.array([1, 1, 1, 0, 0, 0] * 2)
    folds = np.repeat([0, 1], 6)
    result = evaluate_verification(scores, labels, folds)
    assert result.accuracy == 1.0
    assert result.accuracy_std == 0.0
    assert result.auc == 1.0
    assert result.eer == 0.0
    assert result.tar_at_far == {1e-3: 1.0, 1e-2: 1.0}
    assert result.best_threshold == 0.7  # the lowest same score
    assert result.split == "official_folds"


def test_hand_worked_folds() -> None:
    # Fold 0 held out, train on fold 1 (0.8+ 0.7- 0.3+ 0.2-): accuracy 3/4 at both 0.8 and 0.3;
    # ties go to the larger threshold, 0.8. On fold 0 (0.9+ 0.6+ 0.4- 0.1-) it misses 0.6: 3/4.
    # Fold 1 held out, train on fold 0: separable, best at 0.6. On fold 1 it accepts 0.7- and
    # rejects 0.3+: 2/4. Mean 0.625, population std 0.125.
    result = evaluate_verification(HAND_SCORES, HAND_LABELS, HAND_FOLDS)
    assert result.fold_thresholds == (0.8, 0.6)
    assert result.fold_accuracies == (0.75, 0.5)
    assert result.accuracy == pytest.approx(0.625)
    assert result.accuracy_std == pytest.approx(0.125)
    # All 8 pairs: 6/8 at 0.8, 0.6 and 0.3 -> the largest, 0.8.
    assert result.best_threshold == 0.8
    # Same > different in 13 of the 16 (same, different) combinations.
    assert result.auc == pytest.approx(13 / 16)
    # At threshold 0.6: FAR = 1/4 (0.7) and FRR = 1/4 (0.3), exactly equal.
    assert result.eer == pytest.approx(0.25)
    # FAR 0 holds down to threshold 0.8, which accepts 2 of 4 same pairs.
    assert result.tar_at_far == {1e-3: 0.5, 1e-2: 0.5}
    assert (result.num_pairs, result.num_positive, result.num_negative, result.num_folds) == (8, 4, 4, 2)


def test_decision_rule_is_greater_or_equal() -> None:
    # The best threshold is an observed same score, which must count as accepted.
    threshold, accuracy = best_accuracy_threshold(np.array([0.5, 0.5, 0.2]), np.array([1, 1, 0]))
    assert threshold == 0.5
    assert accuracy == 1.0


def test_best_threshold_one_class() -> None:
    # A masked training split may hold one class: accept all / reject all.
    scores = np.array([0.3, 0.9])
    assert best_accuracy_threshold(scores, np.array([1, 1])) == (0.3, 1.0)
    threshold, accuracy = best_accuracy_threshold(scores, np.array([0, 0]))
    assert threshold > 0.9 and np.isfinite(threshold) and accuracy == 1.0


def test_as_metrics_keys() -> None:
    metrics = evaluate_verification(HAND_SCORES, HAND_LABELS, HAND_FOLDS).as_metrics()
    assert list(metrics) == [
        "accuracy",
        "accuracy_std",
        "auc",
        "eer",
        "tar_at_far_1e-3",
        "tar_at_far_1e-2",
        "best_threshold",
        "num_pairs",
    ]
    assert all(type(value) is float for value in metrics.values())
    assert metrics["num_pairs"] == 8.0


@pytest.mark.parametrize(
    ("far", "key"),
    [
        (1e-3, "tar_at_far_1e-3"),
        (1e-2, "tar_at_far_1e-2"),
        (5e-4, "tar_at_far_5e-4"),
        (0.1, "tar_at_far_1e-1"),
    ],
)
def test_tar_at_far_key(far: float, key: str) -> None:
    assert keys.tar_at_far(far) == key


def test_key_families() -> None:
    assert keys.STAGES == ("decode", "detect", "align", "embed")
    assert keys.time_s("detect") == "time_detect_s" and keys.TIME_CACHE_READ_S == "time_cache_read_s"
    assert keys.ms_per_image("embed") == "ms_per_image_embed"
    assert keys.images_per_s("align") == "images_per_s_align" != keys.IMAGES_PER_S
    assert keys.TAR_AT_FAR == ("tar_at_far_1e-3", "tar_at_far_1e-2")
    assert keys.peak(keys.RSS_MB) == keys.PEAK_RSS_MB == "peak_rss_mb"
    assert keys.peak(keys.GPU_USED_MB, "load") == "peak_gpu_used_mb_load"
    # A misspelt stage or series would name a metric that no run logs.
    for family, name in ((keys.ms_per_image, "detection"), (keys.time_s, "total"), (keys.peak, "rss")):
        with pytest.raises(ValueError, match="unknown name"):
            family(name)


# --- against scikit-learn and brute force ------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_against_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    scores, labels, folds = lfw_like(rng)
    scores = np.round(scores, 2)  # force many ties between pairs
    result = evaluate_verification(scores, labels, folds)

    splits = [(np.flatnonzero(folds != k), np.flatnonzero(folds == k)) for k in range(10)]
    accuracies, thresholds = brute_cv_accuracy(scores, labels, splits)
    assert result.fold_accuracies == pytest.approx(accuracies)
    assert result.fold_thresholds == pytest.approx(thresholds)
    assert result.accuracy == pytest.approx(np.mean(accuracies))
    assert result.accuracy_std == pytest.approx(np.std(accuracies))
    assert result.best_threshold == brute_best_threshold(scores, labels)

    assert result.auc == pytest.approx(roc_auc_score(labels, scores))

    far, frr = brute_rates(scores, labels)
    # The interpolated EER lies between the best the discrete thresholds can bracket it.
    assert np.max(np.minimum(far, frr)) <= result.eer + 1e-12
    assert result.eer <= np.min(np.maximum(far, frr)) + 1e-12
    # And it is the usual brentq/interp1d formula.
    expected = brentq(lambda x: 1.0 - x - interp1d(result.fpr, result.tpr)(x), 0.0, 1.0)
    assert result.eer == pytest.approx(expected, abs=1e-9)

    for target, tar in result.tar_at_far.items():
        assert tar == pytest.approx(np.max(np.where(far <= target, 1 - frr, 0.0)))


def test_roc_arrays_are_finite_and_consistent() -> None:
    scores, labels, folds = lfw_like(np.random.default_rng(3))
    result = evaluate_verification(scores, labels, folds)
    assert result.fpr.shape == result.tpr.shape == result.thresholds.shape
    assert np.all(np.isfinite(result.thresholds))
    assert np.all(np.diff(result.thresholds) < 0)
    assert (result.fpr[0], result.tpr[0], result.fpr[-1], result.tpr[-1]) == (0, 0, 1, 1)


def test_random_scores_give_chance() -> None:
    scores, labels, folds = lfw_like(np.random.default_rng(4), separation=0.0)
    result = evaluate_verification(scores, labels, folds)
    assert abs(result.accuracy - 0.5) < 0.03
    assert abs(result.auc - 0.5) < 0.03
    assert abs(result.eer - 0.5) < 0.03


def test_pair_order_does_not_matter() -> None:
    rng = np.random.default_rng(5)
    scores, labels, folds = lfw_like(rng)
    order = rng.permutation(scores.size)
    a = evaluate_verification(scores, labels, folds).as_metrics()
    b = evaluate_verification(scores[order], labels[order], folds[order]).as_metrics()
    assert a == pytest.approx(b)


def test_fold_ids_are_labels_only() -> None:
    # Any ids work, including -1 (which PredefinedSplit itself would read as "never test").
    renamed = np.where(HAND_FOLDS == 0, -1, 7)
    a = evaluate_verification(HAND_SCORES, HAND_LABELS, HAND_FOLDS)
    b = evaluate_verification(HAND_SCORES, HAND_LABELS, renamed)
    assert (a.fold_accuracies, a.fold_thresholds) == (b.fold_accuracies, b.fold_thresholds)


# --- subsets, fallbacks ------------------------------------------------------------------------


def test_mask_removing_whole_folds() -> None:
    scores, labels, folds = lfw_like(np.random.default_rng(6))
    mask = np.isin(folds, [2, 5, 9])
    result = evaluate_verification(scores[mask], labels[mask], folds[mask])
    assert result.split == "official_folds"
    assert result.num_folds == 3
    assert result.num_pairs == 1800
    splits = [(np.flatnonzero(folds[mask] != k), np.flatnonzero(folds[mask] == k)) for k in (2, 5, 9)]
    accuracies, _ = brute_cv_accuracy(scores[mask], labels[mask], splits)
    assert result.fold_accuracies == pytest.approx(accuracies)


def test_mask_leaving_tiny_and_one_class_folds() -> None:
    scores, labels, folds = lfw_like(np.random.default_rng(7))
    keep = (folds != 3) | (np.arange(scores.size) == np.flatnonzero(folds == 3)[0])  # fold 3: 1 pair
    keep &= (folds != 4) | (labels == 1)  # fold 4: same pairs only
    result = evaluate_verification(scores[keep], labels[keep], folds[keep])
    assert result.num_folds == 10
    assert result.fold_accuracies[3] in (0.0, 1.0)
    assert all(0.0 <= accuracy <= 1.0 for accuracy in result.fold_accuracies)


def test_two_folds_of_one_class_each() -> None:
    # Each training split then holds a single class: accept-all / reject-all thresholds.
    scores = np.array([0.9, 0.8, 0.1, 0.2])
    labels = np.array([1, 1, 0, 0])
    result = evaluate_verification(scores, labels, np.array([0, 0, 1, 1]))
    # Trained on the different pairs: threshold just above 0.2, which accepts 0.9 and 0.8.
    # Trained on the same pairs: threshold 0.8, which rejects 0.1 and 0.2.
    assert result.fold_thresholds[0] == np.nextafter(0.2, 1.0)
    assert result.fold_thresholds[1] == 0.8
    assert result.fold_accuracies == (1.0, 1.0)


@pytest.mark.parametrize("folds", [None, "zeros"])
def test_one_fold_falls_back_to_stratified_10fold(folds) -> None:
    scores, labels, _ = lfw_like(np.random.default_rng(8))
    scores, labels = scores[:600], labels[:600]  # one official fold
    fold_ids = np.zeros(600, dtype=int) if folds == "zeros" else None
    result = evaluate_verification(scores, labels, fold_ids)
    assert result.split == "stratified_10fold"
    assert result.num_folds == 10
    splits = StratifiedKFold(n_splits=10, shuffle=False).split(np.zeros((600, 1)), labels)
    accuracies, thresholds = brute_cv_accuracy(scores, labels, splits)
    assert result.fold_accuracies == pytest.approx(accuracies)
    assert result.fold_thresholds == pytest.approx(thresholds)


def test_fallback_with_few_pairs_uses_fewer_folds() -> None:
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2])
    labels = np.array([1, 1, 1, 0, 1, 0, 0])
    result = evaluate_verification(scores, labels, None)
    assert result.split == "stratified_10fold"
    assert result.num_folds == 3  # the smallest class has 3 pairs


def test_fallback_needs_two_of_each_class() -> None:
    with pytest.raises(ValueError, match="at least 2 pairs of each class"):
        evaluate_verification(np.array([0.9, 0.8, 0.1]), np.array([1, 1, 0]), None)


# --- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scores", "labels", "folds", "message"),
    [
        ([0.1, 0.2, 0.3], [0, 1], None, "3 scores but 2 labels"),
        ([0.1, 0.2], [0, 1], [0, 1, 1], "fold ids"),
        ([0.1, 0.2], [0, 2], None, "labels must be 0 or 1"),
        ([0.1, 0.2], [0.5, 1], None, "labels must be 0 or 1"),
        ([0.1, 0.2], [1, 1], None, "both same and different"),
        ([0.1, np.nan], [0, 1], None, "NaN"),
        ([0.1, np.inf], [0, 1], None, "NaN or infinite"),
        ([], [], None, "no pairs"),
        ([[0.1, 0.2]], [[0, 1]], None, "1-D"),
    ],
)
def test_errors(scores, labels, folds, message) -> None:
    folds = None if folds is None else np.array(folds)
    with pytest.raises(ValueError, match=message):
        evaluate_verification(np.array(scores), np.array(labels), folds)


def test_bad_far_target() -> None:
    with pytest.raises(ValueError, match="FAR targets"):
        evaluate_verification(HAND_SCORES, HAND_LABELS, HAND_FOLDS, far_targets=(0.0,))


def test_result_is_frozen() -> None:
    result = evaluate_verification(HAND_SCORES, HAND_LABELS, HAND_FOLDS)
    assert isinstance(result, VerificationResult)
    with pytest.raises(AttributeError):
        result.accuracy = 1.0  # type: ignore[misc]


# --- a run's pairs: scoring, detected subset and counts -----------------------------------------

#: The metrics of a run's evaluation, in the order they are logged.
RUN_METRIC_KEYS = [
    *(keys.ACCURACY, keys.ACCURACY_STD, keys.AUC, keys.EER, *keys.TAR_AT_FAR),
    *(keys.BEST_THRESHOLD, keys.NUM_PAIRS, keys.ACCURACY_DETECTED, keys.ACCURACY_DETECTED_STD),
    *(keys.SUCCESS_RATE, keys.PAIR_SUCCESS_RATE, keys.NUM_IMAGES, keys.NUM_FAILED_IMAGES),
    *(keys.NUM_FALLBACK_IMAGES, keys.NUM_PAIRS_TOTAL, keys.NUM_PAIRS_SCORED),
]


def synthetic_run(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """12 images, 60 pairs in 2 folds: images 0-9 detected, 10 a centre-crop fallback, 11 left
    out (no embedding), so the pairs that use 11 are not scored."""
    embeddings = rng.normal(size=(12, 8)).astype(np.float32)
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    embeddings[11] = np.nan
    index_a, index_b = rng.integers(0, 12, 60), rng.integers(0, 12, 60)
    return {
        "embeddings": embeddings,
        "labels": np.tile([1, 0], 30),
        "folds": np.repeat([0, 1], 30),
        "index_a": index_a,
        "index_b": index_b,
        "detected": np.arange(12) < 10,
        "fallback": np.arange(12) == 10,
    }


def test_pair_scores_are_cosine_similarities() -> None:
    run = synthetic_run(np.random.default_rng(0))
    scores = pair_scores(run["embeddings"], run["index_a"], run["index_b"])
    for score, a, b in zip(scores, run["index_a"], run["index_b"], strict=True):
        if 11 in (a, b):
            assert np.isnan(score)
        else:
            assert score == pytest.approx(float(run["embeddings"][a] @ run["embeddings"][b]), abs=1e-6)


def test_evaluate_pairs_counts_and_subsets() -> None:
    run = synthetic_run(np.random.default_rng(1))
    index_a, index_b, labels, folds = run["index_a"], run["index_b"], run["labels"], run["folds"]
    scores = pair_scores(run["embeddings"], index_a, index_b)
    evaluation = evaluate_pairs(
        scores,
        labels,
        folds,
        index_a=index_a,
        index_b=index_b,
        detected=run["detected"],
        fallback=run["fallback"],
    )
    metrics = evaluation.metrics
    assert list(metrics) == RUN_METRIC_KEYS
    assert all(type(value) is float for value in metrics.values())

    scored = (index_a != 11) & (index_b != 11)
    both_detected = (index_a < 10) & (index_b < 10)
    assert 0 < both_detected.sum() < scored.sum() < len(scores)
    on_scored = evaluate_verification(scores[scored], labels[scored], folds[scored])
    assert evaluation.verification.as_metrics() == on_scored.as_metrics()
    assert {key: metrics[key] for key in on_scored.as_metrics()} == on_scored.as_metrics()
    on_detected = evaluate_verification(scores[both_detected], labels[both_detected], folds[both_detected])
    assert metrics[keys.ACCURACY_DETECTED] == on_detected.accuracy
    assert metrics[keys.ACCURACY_DETECTED_STD] == on_detected.accuracy_std
    assert metrics[keys.SUCCESS_RATE] == 10 / 12
    assert metrics[keys.PAIR_SUCCESS_RATE] == both_detected.mean()
    counts = (keys.NUM_IMAGES, keys.NUM_FAILED_IMAGES, keys.NUM_FALLBACK_IMAGES)
    assert [metrics[key] for key in counts] == [12, 2, 1]
    assert (metrics[keys.NUM_PAIRS_TOTAL], metrics[keys.NUM_PAIRS_SCORED]) == (60, scored.sum())


def test_detected_accuracy_needs_two_pairs_of_each_class() -> None:
    # Images 0 and 1 detected: the pairs of these two are two same pairs and one different one.
    index_a = np.array([0, 0, 1, 0, 2, 2, 3, 1])
    index_b = np.array([1, 1, 0, 2, 3, 2, 3, 3])
    evaluation = evaluate_pairs(
        HAND_SCORES,
        HAND_LABELS,
        HAND_FOLDS,
        index_a=index_a,
        index_b=index_b,
        detected=np.array([True, True, False, False]),
        fallback=np.array([False, False, True, True]),
    )
    assert np.isnan(evaluation.metrics[keys.ACCURACY_DETECTED])
    assert np.isnan(evaluation.metrics[keys.ACCURACY_DETECTED_STD])
    assert evaluation.metrics[keys.ACCURACY] == pytest.approx(0.625)
    assert evaluation.metrics[keys.PAIR_SUCCESS_RATE] == 3 / 8
    assert evaluation.metrics[keys.NUM_FALLBACK_IMAGES] == 2


def test_evaluate_pairs_errors() -> None:
    arrays = {"index_a": np.array([0, 1]), "index_b": np.array([1, 0])}
    images = {"detected": np.array([False, False]), "fallback": np.array([False, False])}
    with pytest.raises(RuntimeError, match="no pair could be scored"):
        evaluate_pairs(np.full(2, np.nan), np.array([1, 0]), np.array([0, 1]), **arrays, **images)
    with pytest.raises(ValueError, match="shape"):
        evaluate_pairs(np.zeros(3), np.array([1, 0, 1]), np.array([0, 1, 1]), **arrays, **images)
    with pytest.raises(ValueError, match="fallback"):
        evaluate_pairs(
            np.zeros(2), np.array([1, 0]), np.array([0, 1]), **arrays, **images | {"fallback": np.zeros(3)}
        )
