"""Face-verification metrics on scored pairs: LFW 10-fold accuracy, AUC, EER, TAR@FAR.

Conventions, fixed here so that every number in the benchmark means the same thing:

* ``scores`` are similarities (cosine): higher means "same person".
* Decision rule: a pair is called *same* when ``score >= threshold`` (scikit-learn's
  ``roc_curve`` convention), so every threshold is one of the observed scores.
* Accuracies are fractions in [0, 1]; the console and README print percent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.model_selection import PredefinedSplit, StratifiedKFold

from bench.metrics import keys
from bench.metrics.keys import DEFAULT_FAR_TARGETS

Split = Literal["official_folds", "stratified_10fold"]


@dataclass(frozen=True, eq=False)
class VerificationResult:
    """Everything measured on one set of scored pairs.

    ``accuracy`` is the cross-validated accuracy (threshold chosen on the other folds), the
    number comparable with published LFW results; ``best_threshold`` is fitted on all pairs
    and is meant for reuse and plots, not for reporting an accuracy.
    """

    accuracy: float
    accuracy_std: float
    fold_accuracies: tuple[float, ...]
    fold_thresholds: tuple[float, ...]
    split: Split
    auc: float
    eer: float
    tar_at_far: dict[float, float]
    best_threshold: float
    num_pairs: int
    num_positive: int
    num_negative: int
    fpr: np.ndarray = field(repr=False)
    tpr: np.ndarray = field(repr=False)
    thresholds: np.ndarray = field(repr=False)

    @property
    def num_folds(self) -> int:
        return len(self.fold_accuracies)

    def as_metrics(self) -> dict[str, float]:
        """Flat, stable metric names for MLflow and summary tables."""
        metrics = {
            keys.ACCURACY: self.accuracy,
            keys.ACCURACY_STD: self.accuracy_std,
            keys.AUC: self.auc,
            keys.EER: self.eer,
        }
        metrics.update({keys.tar_at_far(far): tar for far, tar in self.tar_at_far.items()})
        metrics[keys.BEST_THRESHOLD] = self.best_threshold
        metrics[keys.NUM_PAIRS] = float(self.num_pairs)
        return {key: float(value) for key, value in metrics.items()}


def evaluate_verification(
    scores: np.ndarray,
    labels: np.ndarray,
    folds: np.ndarray | None,
    far_targets: Sequence[float] = DEFAULT_FAR_TARGETS,
) -> VerificationResult:
    """Verification metrics of ``scores`` (similarity per pair) against ``labels`` (1 same, 0 not).

    Accuracy follows insightface's LFW protocol: for each fold, the threshold that maximises
    accuracy on the *other* folds (exactly, over every observed score) is applied to the held-out
    fold; the result is the mean and population std (``np.std``) of the per-fold accuracies.
    ``folds`` gives the fold id of each pair (LFW: 10 official folds of 600 pairs). Fold ids
    that no pair carries simply do not exist, so a mask that removes whole folds just leaves
    fewer folds, and a tiny fold counts like any other. With fewer than two distinct folds
    (``folds`` None, or a one-fold quick run) the pairs are split by
    ``StratifiedKFold(min(10, smallest class count))`` instead; ``split`` records which.

    ``tar_at_far[far]`` is the TAR at the most permissive observed threshold whose FAR is still
    <= ``far`` (the best TAR the constraint allows, no interpolation). ``eer`` is where FAR =
    FRR on the piecewise-linear ROC.
    """
    scores, labels, folds = _validate(scores, labels, folds)
    for far in far_targets:
        if not 0 < far <= 1:
            raise ValueError(f"FAR targets must lie in (0, 1], got {far}")

    decisions = _cross_validate(scores, labels, folds)
    fold_accuracies = decisions.fold_accuracies

    fpr, tpr, thresholds = roc_curve(labels, scores, drop_intermediate=False)
    thresholds = _finite_thresholds(thresholds, scores)
    num_positive = int(labels.sum())
    num_negative = int(labels.size - num_positive)
    return VerificationResult(
        accuracy=float(np.mean(fold_accuracies)),
        accuracy_std=float(np.std(fold_accuracies)),
        fold_accuracies=fold_accuracies,
        fold_thresholds=decisions.thresholds,
        split=decisions.split,
        auc=float(roc_auc_score(labels, scores)),
        eer=equal_error_rate(fpr, tpr),
        tar_at_far={float(far): roc_tar_at_far(fpr, tpr, far) for far in far_targets},
        best_threshold=best_accuracy_threshold(scores, labels)[0],
        num_pairs=int(labels.size),
        num_positive=num_positive,
        num_negative=num_negative,
        fpr=fpr,
        tpr=tpr,
        thresholds=thresholds,
    )


def best_accuracy_threshold(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """The threshold (rule ``score >= threshold``) with the highest accuracy on these pairs, and
    that accuracy. Candidates are every observed score plus one just above the maximum (reject
    all); ties go to the largest threshold, as insightface's grid search over distances picks
    the smallest distance. One-class input is allowed, since a masked training split may be."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels)
    num_positive = int(labels.sum())
    num_negative = labels.size - num_positive
    if num_negative == 0:  # accept everything
        return float(scores.min()), 1.0
    if num_positive == 0:  # reject everything
        return float(np.nextafter(scores.max(), np.inf)), 1.0
    fpr, tpr, thresholds = roc_curve(labels, scores, drop_intermediate=False)
    accuracy = (tpr * num_positive + (1 - fpr) * num_negative) / labels.size
    best = int(np.argmax(accuracy))  # thresholds are decreasing: first maximum = largest threshold
    return float(_finite_thresholds(thresholds, scores)[best]), float(accuracy[best])


@dataclass(frozen=True, eq=False)
class CrossValidatedDecisions:
    """Each pair's decision under the cross-validation protocol of :func:`evaluate_verification`:
    the pair is held out by exactly one fold and decided by that fold's threshold, chosen on the
    other folds. Its accuracy is computed from these decisions, so a paired test on them (see
    :mod:`bench.metrics.significance`) tests exactly the accuracy the run reports."""

    correct: np.ndarray = field(repr=False)  # bool per pair: decided as labelled
    fold: np.ndarray = field(repr=False)  # per pair: index (0..k-1) of the fold that held it out
    thresholds: tuple[float, ...]  # per fold
    split: Split

    @property
    def fold_accuracies(self) -> tuple[float, ...]:
        return tuple(float(np.mean(self.correct[self.fold == k])) for k in range(len(self.thresholds)))

    @property
    def accuracy(self) -> float:
        """The mean of the fold accuracies: :attr:`VerificationResult.accuracy`."""
        return float(np.mean(self.fold_accuracies))


def cross_validated_decisions(
    scores: np.ndarray, labels: np.ndarray, folds: np.ndarray | None
) -> CrossValidatedDecisions:
    """Which pairs the cross-validated accuracy of :func:`evaluate_verification` gets right, on
    the same folds (or the same stratified fallback) and with the same thresholds."""
    return _cross_validate(*_validate(scores, labels, folds))


def _cross_validate(
    scores: np.ndarray, labels: np.ndarray, folds: np.ndarray | None
) -> CrossValidatedDecisions:
    split: Split
    if folds is not None and np.unique(folds).size >= 2:
        # Re-index the ids to 0..k-1: PredefinedSplit reads -1 as "never test", ids may be anything.
        _, fold_index = np.unique(folds, return_inverse=True)
        splits = PredefinedSplit(fold_index).split()
        split = "official_folds"
    else:
        smallest_class = int(min(labels.sum(), labels.size - labels.sum()))
        if smallest_class < 2:
            raise ValueError(
                "cross-validated accuracy without folds needs at least 2 pairs of each class, "
                f"got {smallest_class}"
            )
        splitter = StratifiedKFold(n_splits=min(10, smallest_class), shuffle=False)
        splits = splitter.split(np.zeros((labels.size, 1)), labels)
        split = "stratified_10fold"

    # Both splitters hold every pair out exactly once, and no fold (test or train) is empty.
    correct = np.empty(labels.size, dtype=bool)
    fold = np.empty(labels.size, dtype=np.int64)
    thresholds: list[float] = []
    for index, (train, test) in enumerate(splits):
        threshold, _ = best_accuracy_threshold(scores[train], labels[train])
        correct[test] = (scores[test] >= threshold) == labels[test].astype(bool)
        fold[test] = index
        thresholds.append(threshold)
    return CrossValidatedDecisions(correct, fold, tuple(thresholds), split)


def _finite_thresholds(thresholds: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """sklearn's first ROC threshold is ``inf`` (reject all); replace it by the next float above
    the top score, which rejects the same pairs and stays JSON- and MLflow-friendly."""
    thresholds = np.asarray(thresholds, dtype=np.float64).copy()
    thresholds[~np.isfinite(thresholds)] = np.nextafter(scores.max(), np.inf)
    return thresholds


def equal_error_rate(fpr: np.ndarray, tpr: np.ndarray) -> float:
    """FAR where FAR = FRR (= 1 - TPR), linearly interpolated between ROC points; the same as
    the usual ``brentq(lambda x: 1 - x - interp1d(fpr, tpr)(x), 0, 1)``."""
    gap = (1 - tpr) - fpr  # non-increasing along the ROC, from 1 to -1
    crossing = int(np.argmax(gap <= 0))
    if gap[crossing] == 0 or crossing == 0:
        return float(fpr[crossing])
    t = gap[crossing - 1] / (gap[crossing - 1] - gap[crossing])
    return float(fpr[crossing - 1] + t * (fpr[crossing] - fpr[crossing - 1]))


def roc_tar_at_far(fpr: np.ndarray, tpr: np.ndarray, far: float) -> float:
    """TPR at the last ROC point (lowest threshold) with FPR <= ``far``: TPR only grows along
    the ROC, so that is the highest TAR the FAR budget allows."""
    allowed = np.flatnonzero(fpr <= far)
    return float(tpr[allowed[-1]])  # fpr[0] == 0, so never empty


def _validate(
    scores: np.ndarray, labels: np.ndarray, folds: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels)
    if scores.ndim != 1 or labels.ndim != 1:
        raise ValueError(f"scores and labels must be 1-D, got shapes {scores.shape} and {labels.shape}")
    if scores.size != labels.size:
        raise ValueError(f"{scores.size} scores but {labels.size} labels")
    if scores.size == 0:
        raise ValueError("no pairs to evaluate")
    if not np.all(np.isfinite(scores)):
        raise ValueError(f"{int(np.sum(~np.isfinite(scores)))} scores are NaN or infinite")
    if not np.all(np.isin(labels, (0, 1))):
        raise ValueError(f"labels must be 0 or 1, got values {np.unique(labels)[:10].tolist()}")
    labels = labels.astype(np.int64)
    if np.unique(labels).size < 2:
        raise ValueError(f"verification needs both same and different pairs; all labels are {labels[0]}")
    if folds is not None:
        folds = np.asarray(folds)
        if folds.shape != labels.shape:
            raise ValueError(f"{folds.size} fold ids for {labels.size} pairs")
    return scores, labels, folds
