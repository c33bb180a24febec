"""Error-versus-discard characteristic (EDC): does a quality signal predict recognition errors?

ISO/IEC 29794-1:2024 and Schlett et al., "Considerations on the evaluation of biometric quality
assessment algorithms" (IEEE TBIOM 2024): the genuine comparisons are discarded lowest quality
first, and the false non-match rate (FNMR) of those kept is followed as the discarded fraction
grows. A signal that predicts errors makes the FNMR fall fast; one that does not keeps it flat.

Conventions, besides those of :mod:`bench.metrics.verification` (scores are similarities, a pair
is a match when ``score >= threshold``):

* Quality is higher = better; a caller flips a signal where lower is better. A pair's quality is
  the lower of its two images' (:func:`pair_quality`), since the worse image limits the match.
* A NaN quality (the method gave no value for a face) counts as the lowest quality of all: such
  pairs are discarded first, together with any ``-inf`` quality.
* The threshold is fixed once, on all pairs, at a target FMR over the impostor scores, and kept
  while discarding: the EDC asks how the errors at one operating point are distributed over
  quality, not how a re-tuned system would do.
* Only genuine comparisons are discarded; impostor qualities are not used.
* Pairs with the same quality are discarded together, so the curve has a point only at each
  distinct quality level and does not depend on the order of the pairs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.metrics import roc_curve

DEFAULT_TARGET_FMR = 1e-3
#: The pAUC is taken up to this discarded fraction (``pauc_20``): beyond it a system rejects so
#: many genuine attempts that the quality check, not recognition, is the problem.
PAUC_DISCARD_LIMIT = 0.2


@dataclass(frozen=True, eq=False)
class EdcResult:
    """One quality signal's EDC at a fixed threshold.

    ``fnmr[i]`` is the FNMR of the genuine comparisons kept once the fraction
    ``discard_fractions[i]`` of them, lowest quality first, is discarded. The first point is
    ``(0, initial FNMR)``; the last is ``(1, 0)``: with nothing kept, no false non-match is left.
    Between points the curve is a step (see :func:`step_pauc`).

    ``fmr`` is the FMR the threshold was fixed at: the target, or ``1 / num_impostor`` where the
    impostors are too few to measure the target; the threshold's own FMR on these impostors is
    at most this. The pAUCs are areas under FNMR over discard fractions ``[0, 0.2]``; a perfect
    signal reaches ``ideal_pauc_20``, a signal no better than chance ``random_pauc_20``.
    """

    signal: str
    discard_fractions: np.ndarray = field(repr=False)
    fnmr: np.ndarray = field(repr=False)
    threshold: float
    fmr: float
    pauc_20: float
    random_pauc_20: float
    ideal_pauc_20: float
    num_genuine: int
    num_impostor: int

    @property
    def initial_fnmr(self) -> float:
        """The FNMR before anything is discarded."""
        return float(self.fnmr[0])


def pair_quality(quality_a: np.ndarray, quality_b: np.ndarray) -> np.ndarray:
    """Each pair's quality: the lower of its two images'. A NaN on either side gives NaN, the
    lowest quality (``np.minimum`` propagates NaN, where ``np.fmin`` would hide it)."""
    return np.minimum(np.asarray(quality_a, dtype=np.float64), np.asarray(quality_b, dtype=np.float64))


def fmr_threshold(
    scores: np.ndarray, labels: np.ndarray, target_fmr: float = DEFAULT_TARGET_FMR
) -> tuple[float, float]:
    """The lowest threshold (an observed score, or just above the top one) whose FMR over the
    impostors (``labels == 0``) is at most the target, and the FMR it was fixed at.

    Below ``1 / num_impostors`` an FMR can only be measured as zero, which says nothing about the
    target, so the target is raised to that lowest measurable FMR.
    """
    scores, labels = _validate_pairs(scores, labels)
    if not 0 < target_fmr <= 1:
        raise ValueError(f"the target FMR must lie in (0, 1], got {target_fmr}")
    fmr = max(target_fmr, 1 / int(np.sum(labels == 0)))
    # With drop_intermediate=False every distinct score is a threshold, fpr[i] counting the
    # impostors >= thresholds[i]: the last one within the budget is the lowest threshold.
    fpr, _, thresholds = roc_curve(labels, scores, drop_intermediate=False)
    threshold = float(thresholds[np.flatnonzero(fpr <= fmr)[-1]])
    if not np.isfinite(threshold):  # sklearn's "reject all"; the same decisions, but finite
        threshold = float(np.nextafter(scores.max(), np.inf))
    return threshold, float(fmr)


def error_versus_discard(
    signal: str,
    scores: np.ndarray,
    labels: np.ndarray,
    quality: np.ndarray,
    target_fmr: float = DEFAULT_TARGET_FMR,
) -> EdcResult:
    """The EDC of ``quality`` (per pair, e.g. :func:`pair_quality`; NaN = lowest) for the
    comparisons ``scores`` (similarities) with ``labels`` (1 genuine, 0 impostor), at the
    threshold :func:`fmr_threshold` fixes on all of them."""
    scores, labels = _validate_pairs(scores, labels)
    quality = np.asarray(quality, dtype=np.float64)
    if quality.shape != scores.shape:
        raise ValueError(f"{quality.size} qualities for {scores.size} pairs")
    threshold, fmr = fmr_threshold(scores, labels, target_fmr)

    genuine = labels == 1
    quality = quality[genuine]
    errors = scores[genuine] < threshold
    levels = np.unique(np.where(np.isnan(quality), -np.inf, quality), return_inverse=True)[1]
    num_levels = int(levels.max()) + 1
    # Discarding level by level, lowest first; the leading 0 is the start, nothing discarded.
    discarded = np.concatenate(([0], np.cumsum(np.bincount(levels, minlength=num_levels))))
    errors_discarded = np.concatenate(([0], np.cumsum(np.bincount(levels[errors], minlength=num_levels))))

    num_genuine = quality.size
    kept = num_genuine - discarded
    fnmr = np.divide(int(errors.sum()) - errors_discarded, kept, out=np.zeros(kept.size), where=kept > 0)
    discard_fractions = discarded / num_genuine
    initial = float(fnmr[0])
    return EdcResult(
        signal=signal,
        discard_fractions=discard_fractions,
        fnmr=fnmr,
        threshold=threshold,
        fmr=fmr,
        pauc_20=step_pauc(discard_fractions, fnmr, PAUC_DISCARD_LIMIT),
        random_pauc_20=initial * PAUC_DISCARD_LIMIT,
        ideal_pauc_20=ideal_pauc(initial, PAUC_DISCARD_LIMIT),
        num_genuine=num_genuine,
        num_impostor=int(labels.size - num_genuine),
    )


def step_pauc(discard_fractions: np.ndarray, fnmr: np.ndarray, limit: float = PAUC_DISCARD_LIMIT) -> float:
    """The exact area under the EDC on discard fractions ``[0, limit]``, the curve held at each
    point's FNMR until the next point (a right-continuous step).

    Steps, not straight lines, because discarding happens in steps: no quality threshold
    discards a fraction between two points (the next tie group goes whole or not at all), so
    with a budget of ``d`` the most one can discard is the last point at or below ``d``, and the
    FNMR there is the one a system would see. A straight line would credit error rates no
    threshold achieves.
    """
    starts = np.clip(discard_fractions[:-1], 0, limit)
    ends = np.clip(discard_fractions[1:], 0, limit)
    return float(np.sum(fnmr[:-1] * (ends - starts)))


def ideal_fnmr(initial_fnmr: float, discard_fractions: np.ndarray) -> np.ndarray:
    """The EDC of a signal that discards the false non-matches first: the errors left over the
    comparisons left, ``max(0, (F - d) / (1 - d))`` with ``F`` the initial FNMR, 0 from ``d = F``."""
    discard = np.asarray(discard_fractions, dtype=np.float64)
    remaining = np.maximum(initial_fnmr - discard, 0.0)
    return np.divide(remaining, 1 - discard, out=np.zeros_like(discard), where=remaining > 0)


def ideal_pauc(initial_fnmr: float, limit: float = PAUC_DISCARD_LIMIT) -> float:
    """The area under :func:`ideal_fnmr` on ``[0, limit]``, in closed form: with ``a = min(limit,
    F)``, ``integral_0^a (F - d) / (1 - d) dd = a + (1 - F) ln(1 - a)`` (the curve is 0 after
    ``F``)."""
    end = min(limit, initial_fnmr)
    return float(end + (1 - initial_fnmr) * np.log1p(-end))


def _validate_pairs(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels)
    if scores.ndim != 1 or scores.shape != labels.shape:
        raise ValueError(
            f"scores and labels must be 1-D and alike, got shapes {scores.shape} and {labels.shape}"
        )
    if not np.all(np.isfinite(scores)):
        raise ValueError(f"{int(np.sum(~np.isfinite(scores)))} scores are NaN or infinite")
    if not np.all(np.isin(labels, (0, 1))):
        raise ValueError(f"labels must be 0 or 1, got values {np.unique(labels)[:10].tolist()}")
    labels = labels.astype(np.int64)
    if not 0 < labels.sum() < labels.size:
        raise ValueError("an EDC needs genuine comparisons to discard and impostors to fix the threshold")
    return scores, labels
