"""The verification protocol of a data set, one strategy each: which images a run processes and
how their embeddings are scored. The runner asks no other question about the protocol.

* ``PairsProtocol``: image pairs in folds (LFW, a pairs CSV, insightface's ``.bin``): pair
  scores, k-fold accuracy, AUC, EER, TAR@FAR.
* ``TemplatesProtocol``: IJB-B/C templates: media-averaged template features, 1:1 TAR@FAR and
  1:N identification; each image is one entry, and there are no image pairs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

import numpy as np

from bench.config import StressConfig, StressSides
from bench.data import Dataset, PairDataset, TemplateDataset
from bench.metrics import evaluate_pairs, keys, pair_scores
from bench.metrics.templates import evaluate_templates
from bench.pipeline.entries import ImageEntries, ImageEntry
from bench.pipeline.records import BenchmarkResult, ImageRecord, ImageStatus

if TYPE_CHECKING:
    from bench.models import ModelFamily

#: The protocols' names: logged with each run (``run_keys.PROTOCOL_TAG``), so that what a run
#: writes, prints and is compared by (``bench.tracking.protocol_reports``) follows it.
PAIRS = "pairs"
TEMPLATES = "templates"


class Protocol(ABC):
    name: str
    #: The similarities (``ModelFamily.similarity``) its scoring knows; ``None``: any.
    similarities: tuple[str, ...] | None = None

    def check_similarity(self, family: ModelFamily) -> None:
        """Refuse, before any work, a family whose embeddings this protocol cannot score."""
        if self.similarities is not None and family.similarity not in self.similarities:
            raise ValueError(
                f"the {self.name} protocol scores {' or '.join(self.similarities)} embeddings, and "
                f"model family {family.name!r} compares by {family.similarity}: choose another model"
            )

    @abstractmethod
    def entries(self, dataset: Dataset, stress: StressConfig) -> ImageEntries:
        """Every image the run processes, once each (an image is two entries when one side of
        its pairs is degraded and the other not)."""

    @abstractmethod
    def evaluate(
        self,
        dataset: Dataset,
        entries: ImageEntries,
        records: list[ImageRecord],
        embeddings: np.ndarray,
        similarity: str,
    ) -> BenchmarkResult:
        """Score the embeddings by ``similarity``; ``runtime`` is left for the runner to fill in."""


def _flags(records: list[ImageRecord]) -> tuple[np.ndarray, np.ndarray]:
    detected = np.array([record.status is ImageStatus.DETECTED for record in records])
    return detected, np.array([record.fallback for record in records])


class PairsProtocol(Protocol):
    name = PAIRS

    def entries(self, dataset: Dataset, stress: StressConfig) -> ImageEntries:
        """Every entry the pairs use, once, in first-use order. With ``sides=one`` the first image
        of each pair is degraded and the second is not."""
        sides = (stress.active, stress.active and stress.sides is StressSides.both)
        position: dict[ImageEntry, int] = {}
        index_a, index_b = [], []
        for pair in dataset.pairs:
            for path, stressed, indices in (
                (pair.image_a, sides[0], index_a),
                (pair.image_b, sides[1], index_b),
            ):
                indices.append(position.setdefault(ImageEntry(path, stressed), len(position)))
        return ImageEntries(
            list(position), np.array(index_a, dtype=np.int64), np.array(index_b, dtype=np.int64)
        )

    def evaluate(
        self,
        dataset: Dataset,
        entries: ImageEntries,
        records: list[ImageRecord],
        embeddings: np.ndarray,
        similarity: str,
    ) -> BenchmarkResult:
        detected, fallback = _flags(records)
        scores = pair_scores(embeddings, entries.index_a, entries.index_b, similarity)
        evaluation = evaluate_pairs(
            scores,
            dataset.labels,
            dataset.folds,
            index_a=entries.index_a,
            index_b=entries.index_b,
            detected=detected,
            fallback=fallback,
        )
        metrics = dict(evaluation.metrics)
        moved = [record.perturbation_nme for record in records if record.perturbation_nme is not None]
        if moved:
            metrics[keys.PERTURBATION_NME] = float(np.nanmean(moved))
        return BenchmarkResult(
            dataset,
            records,
            scores,
            entries.index_a,
            entries.index_b,
            evaluation.verification,
            metrics,
            {},
            protocol=PAIRS,
        )


class TemplatesProtocol(Protocol):
    name = TEMPLATES
    #: Template features are means of unit-length image features, compared by cosine
    #: (insightface's IJB recipe); a raw Euclidean embedding has no such recipe here.
    similarities = ("cosine",)

    def entries(self, dataset: Dataset, stress: StressConfig) -> ImageEntries:
        assert isinstance(dataset, TemplateDataset)
        none = np.empty(0, dtype=np.int64)
        return ImageEntries([ImageEntry(path, stress.active) for path in dataset.images], none, none)

    def evaluate(
        self,
        dataset: Dataset,
        entries: ImageEntries,
        records: list[ImageRecord],
        embeddings: np.ndarray,
        similarity: str,
    ) -> BenchmarkResult:
        assert isinstance(dataset, TemplateDataset)
        detected, fallback = _flags(records)
        weights = None
        if dataset.detector_score_weighting:
            weights = np.array([record.face.score if record.face else np.nan for record in records])
        evaluation = evaluate_templates(
            dataset.protocol, embeddings, detected=detected, fallback=fallback, weights=weights
        )
        none = np.empty(0, dtype=np.int64)
        return BenchmarkResult(
            dataset,
            records,
            evaluation.scores,
            none,
            none,
            None,
            evaluation.metrics,
            {},
            templates=evaluation,
            protocol=TEMPLATES,
        )


#: Data set class -> its protocol.
PROTOCOLS: dict[type, Protocol] = {PairDataset: PairsProtocol(), TemplateDataset: TemplatesProtocol()}


def protocol_of(dataset: Dataset | TemplateDataset) -> Protocol:
    return PROTOCOLS[type(dataset)]
