"""A run's quality signals per image, and per signal the error-versus-discard curve of its pairs:
does discarding the comparisons of the lowest quality remove the false non-matches?"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from bench.metrics import keys
from bench.metrics.edc import EdcResult, error_versus_discard, pair_quality
from bench.quality.signals import SIGNALS, Direction, face_signals, quality_value

if TYPE_CHECKING:
    from bench.pipeline.records import ImageRecord


def image_signals(records: Sequence[ImageRecord], scored: bool) -> dict[str, np.ndarray]:
    """Each signal's raw value per record, in ``SIGNALS``' order; NaN for an image that was not
    embedded and wherever a signal is absent. ``scored``: whether the method's scores are its
    confidence (a fallback crop's never is)."""
    values = {name: np.full(len(records), np.nan) for name in SIGNALS}
    for index, record in enumerate(records):
        if record.face is None:
            continue
        signals = face_signals(
            record.face, score_is_confidence=scored and not record.fallback, measured=record.measured
        )
        for name, value in signals.items():
            values[name][index] = value
    return values


def quality_curves(
    signals: Mapping[str, np.ndarray],
    scores: np.ndarray,
    labels: np.ndarray,
    index_a: np.ndarray,
    index_b: np.ndarray,
    target_fmr: float,
) -> list[EdcResult]:
    """The curve of every signal some image has, on the pairs that were scored; a comparison's
    quality is the lower of its two images' (after ``quality_value``: higher is better)."""
    scored = np.isfinite(scores)
    labels = np.asarray(labels, dtype=bool)[scored]
    if labels.all() or not labels.any():
        return []  # a curve needs both false matches (for its threshold) and genuine pairs
    curves = []
    for name, raw in signals.items():
        if np.isnan(raw).all():
            continue  # a signal the method cannot give is absent, not invented
        quality = quality_value(name, raw)
        pairs = pair_quality(quality[index_a], quality[index_b])[scored]
        curves.append(error_versus_discard(name, scores[scored], labels, pairs, target_fmr))
    return curves


def signal_medians(signals: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Each signal's median over the images that have it, in raw units (an angle's size, as
    ``quality_value`` ranks it): whether a detector's score falls with a stress condition before
    the accuracy does is read from these across severities."""
    medians = {}
    for name, raw in signals.items():
        present = raw[np.isfinite(raw)]
        if SIGNALS[name].direction is Direction.NEARER_ZERO_IS_BETTER:
            present = np.abs(present)
        if present.size:
            medians[keys.quality_median(name)] = float(np.median(present))
    return medians


def curve_metrics(curves: Sequence[EdcResult]) -> dict[str, float]:
    """Each signal's partial area up to 20 % discard, and the two references (one per run: they
    depend on its pairs and threshold only)."""
    if not curves:
        return {}
    metrics = {keys.edc_pauc(curve.signal): curve.pauc_20 for curve in curves}
    metrics[keys.EDC_RANDOM_PAUC] = curves[0].random_pauc_20
    metrics[keys.EDC_IDEAL_PAUC] = curves[0].ideal_pauc_20
    metrics[keys.EDC_FMR] = curves[0].fmr
    return {key: value for key, value in metrics.items() if not math.isnan(value)}
