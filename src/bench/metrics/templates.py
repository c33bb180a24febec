"""A template run (IJB-B/C) evaluated: image embeddings to template features, the 1:1 table and,
when the protocol has it, 1:N identification, as flat metrics (``keys``).

Pure functions on arrays, like ``bench.metrics.evaluation`` for pairs. Every image embedding is
unit length (the benchmark's embedder, flip fusion included), which is insightface's mode
without "norm score"; a failed image's row is NaN and drops out of its template.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.data.ijb import IjbProtocol
from bench.metrics import keys
from bench.metrics.ijb import (
    IjbIdentification,
    TarAtFar,
    ijb_identification,
    tar_at_far_table,
    template_features,
    verification_scores,
)
from bench.metrics.verification import equal_error_rate


@dataclass(frozen=True, eq=False)
class TemplateEvaluation:
    """The template pairs' scores (NaN: a template without a feature), the 1:1 table, the 1:N
    results (``None`` without 1:N files) and the run's flat metrics."""

    scores: np.ndarray
    #: Each template pair's label (1: same subject), in the protocol's order.
    labels: np.ndarray
    table: TarAtFar
    identification: IjbIdentification | None
    metrics: dict[str, float]


def evaluate_templates(
    protocol: IjbProtocol,
    embeddings: np.ndarray,
    *,
    detected: np.ndarray,
    fallback: np.ndarray,
    weights: np.ndarray | None,
) -> TemplateEvaluation:
    """Evaluate ``embeddings`` (a row per image of ``protocol``, NaN where none) with each
    image's ``weights`` (its detector score) when given; ``detected``/``fallback`` per image."""
    detected, fallback = np.asarray(detected, dtype=bool), np.asarray(fallback, dtype=bool)
    ids, features = template_features(embeddings, protocol.templates, protocol.medias, weights)
    scores = verification_scores(ids, features, protocol.pairs_a, protocol.pairs_b)
    if np.isnan(scores).all():
        raise RuntimeError("no template pair could be scored: every template lacks a feature")
    table = tar_at_far_table(scores, protocol.labels, keys.IJB_FAR_TARGETS)
    metrics = {
        keys.AUC: table.auc,
        keys.EER: equal_error_rate(table.fpr, table.tpr),
        keys.NUM_PAIRS: float(table.num_positive + table.num_negative),
        **{keys.tar_at_far(far): tar for far, tar in table.tar.items()},
        **{keys.tar_insightface_at_far(far): tar for far, tar in table.tar_insightface.items()},
        keys.SUCCESS_RATE: float(detected.mean()),
        keys.NUM_IMAGES: float(detected.size),
        keys.NUM_FAILED_IMAGES: float(detected.size - int(detected.sum())),
        keys.NUM_FALLBACK_IMAGES: float(fallback.sum()),
        keys.NUM_PAIRS_TOTAL: float(scores.size),
        keys.NUM_PAIRS_SCORED: float(scores.size - table.num_unscored),
        keys.NUM_TEMPLATES: float(ids.size),
        keys.NUM_TEMPLATES_WITHOUT_FEATURE: float(np.isnan(features).any(axis=1).sum()),
    }
    identification = None
    if protocol.probe_subjects is not None and protocol.gallery_subjects is not None:
        identification = ijb_identification(ids, features, protocol.probe_subjects, protocol.gallery_subjects)
        metrics |= {keys.cmc_at_rank(rank): value for rank, value in identification.cmc.items()}
        metrics |= {keys.tpir_at_fpir(fpir): value for fpir, value in identification.tpir.items()}
        metrics |= {
            keys.tpir_at_fpir(fpir, insightface=True): value
            for fpir, value in identification.tpir_insightface.items()
        }
    return TemplateEvaluation(scores, protocol.labels, table, identification, metrics)
