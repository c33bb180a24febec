"""A run's pairs scored and evaluated: verification on every scored pair, on the pairs whose two
faces were detected, and the detection counts.

Pure functions on arrays, so the numbers a run logs can be checked without running a model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.metrics import keys
from bench.metrics.verification import VerificationResult, evaluate_verification
from bench.models.similarity import similarity_named

#: Pairs whose rows are gathered at once (16 MB of 512-d float32 rows a side).
_PAIR_BLOCK = 8192


@dataclass(frozen=True, eq=False)
class PairEvaluation:
    """The verification of every scored pair, and the run's flat metrics (``keys``)."""

    verification: VerificationResult
    metrics: dict[str, float]


def pair_scores(
    embeddings: np.ndarray, index_a: np.ndarray, index_b: np.ndarray, similarity: str = "cosine"
) -> np.ndarray:
    """The ``similarity`` of each pair of rows of ``embeddings`` (cosine: L2-normalised rows, so a
    dot product); NaN where either image has no embedding (its row is NaN). Pairs are gathered a
    block at a time: 100,000 images in 50,000 pairs would otherwise copy 200 MB of rows at once."""
    measure = similarity_named(similarity)
    index_a, index_b = np.asarray(index_a), np.asarray(index_b)
    scores = np.empty(index_a.size, dtype=np.result_type(embeddings.dtype, np.float32))
    for start in range(0, index_a.size, _PAIR_BLOCK):
        block = slice(start, start + _PAIR_BLOCK)
        scores[block] = measure.rows(embeddings[index_a[block]], embeddings[index_b[block]])
    return scores


def evaluate_pairs(
    scores: np.ndarray,
    labels: np.ndarray,
    folds: np.ndarray,
    *,
    index_a: np.ndarray,
    index_b: np.ndarray,
    detected: np.ndarray,
    fallback: np.ndarray,
) -> PairEvaluation:
    """Evaluate per-pair ``scores`` (NaN: not scored), ``labels`` (1 same, 0 not) and ``folds``.

    ``index_a``/``index_b`` give each pair's two images; ``detected`` and ``fallback`` say, per
    image, whether a face was found and whether a centre crop stood in for it. The accuracy on
    pairs whose two faces were detected is NaN unless each class keeps at least 2 such pairs,
    as a smaller subset has no meaningful threshold.
    """
    scores, labels, folds = np.asarray(scores), np.asarray(labels), np.asarray(folds)
    index_a, index_b = np.asarray(index_a), np.asarray(index_b)
    detected, fallback = np.asarray(detected, dtype=bool), np.asarray(fallback, dtype=bool)
    if not scores.shape == labels.shape == folds.shape == index_a.shape == index_b.shape:
        raise ValueError(
            f"per-pair arrays differ in shape: scores {scores.shape}, labels {labels.shape}, "
            f"folds {folds.shape}, index_a {index_a.shape}, index_b {index_b.shape}"
        )
    if detected.shape != fallback.shape:
        raise ValueError(f"{detected.size} detected flags but {fallback.size} fallback flags")
    scored = ~np.isnan(scores)
    if not scored.any():
        raise RuntimeError("no pair could be scored: every pair has an image that failed")
    verification = evaluate_verification(scores[scored], labels[scored], folds[scored])

    both_detected = detected[index_a] & detected[index_b]
    metrics = dict(verification.as_metrics())
    metrics[keys.ACCURACY_DETECTED] = metrics[keys.ACCURACY_DETECTED_STD] = float("nan")
    if min(np.bincount(labels[both_detected], minlength=2)) >= 2:
        on_detected = evaluate_verification(
            scores[both_detected], labels[both_detected], folds[both_detected]
        )
        metrics[keys.ACCURACY_DETECTED] = on_detected.accuracy
        metrics[keys.ACCURACY_DETECTED_STD] = on_detected.accuracy_std
    metrics.update(
        {
            keys.SUCCESS_RATE: float(detected.mean()),
            keys.PAIR_SUCCESS_RATE: float(both_detected.mean()),
            keys.NUM_IMAGES: float(detected.size),
            keys.NUM_FAILED_IMAGES: float(detected.size - int(detected.sum())),
            keys.NUM_FALLBACK_IMAGES: float(fallback.sum()),
            keys.NUM_PAIRS_TOTAL: float(len(scores)),
            keys.NUM_PAIRS_SCORED: float(scored.sum()),
        }
    )
    return PairEvaluation(verification, metrics)
