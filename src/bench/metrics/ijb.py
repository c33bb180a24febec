"""IJB-B / IJB-C evaluation as insightface computes it: template features, 1:1 TAR at FAR, and
1:N CMC and TPIR at FPIR.

The reference is deepinsight/insightface's ``recognition/_evaluation_/ijb/`` (``ijb_11.py``,
``ijb_1n.py``, ``ijb_evals.py``) and ``recognition/arcface_torch/eval_ijbc.py``. There, each image's
feature (with flip test, the sum of the image's and its mirror's embeddings, formed before this
module) keeps its norm by default ("norm score" mode: the norm weighs image quality) and is
multiplied by its detector score; a template's feature is the sum over its media of the mean
feature of each media's images, L2-normalised; a pair's score is the dot product of its two
template features. Where insightface's summary figure departs from the budget it names, this
module reports insightface's figure *and* a strict one, so published numbers can be compared
and our own claims stay within the FAR / FPIR they state.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.sparse import csr_matrix
from sklearn.metrics import auc, roc_curve
from sklearn.preprocessing import normalize

from bench.metrics.keys import IJB_FAR_TARGETS
from bench.metrics.verification import roc_tar_at_far

#: insightface's 1:1 table columns.
IJB_FARS = IJB_FAR_TARGETS
#: insightface's 1:N report: CMC ranks and TPIR operating points.
IJB_RANKS: tuple[int, ...] = (1, 5, 10)
IJB_FPIRS: tuple[float, ...] = (0.01, 0.1)
#: Pairs scored at once: IJB-C has 15.7 million, whose features gathered at once would take 128 GB;
#: two blocks of 128 float64 rows of 512 stay in a core's L2 cache, 3.5x faster than 20,000 rows.
_PAIR_BATCH = 128
#: Feature columns summed into templates at once, widened to float64 a block at a time: IJB-C's
#: 469,375 float32 image features widened at once would take 1.9 GB, and as long again to copy.
_COLUMN_BLOCK = 64
#: Slack for ``rate * count``, which float rounding can put just below an integer.
_SLACK = 1e-9


def template_features(
    image_features: np.ndarray,
    templates: np.ndarray,
    medias: np.ndarray,
    detector_scores: np.ndarray | None = None,
    *,
    normalize_images: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Each template's feature from its images' features: ``(template_ids, features)``, ids sorted.

    As insightface: each image feature is L2-normalised only with ``normalize_images`` (its
    default keeps the norm), then multiplied by its detector score when scores are given; the
    images of one media (frames of one video) are averaged, the media features summed and the sum
    L2-normalised (a zero sum stays zero, as with sklearn's ``normalize``). An image whose feature
    has a NaN (not embedded) is left out; a template left with no image gets a NaN feature, so its
    pairs score NaN and count as unscored instead of vanishing.
    """
    features = np.asarray(image_features)
    if features.dtype != np.float32:  # float32 is widened a block at a time below, exactly
        features = np.asarray(features, dtype=np.float64)
    templates = np.asarray(templates, dtype=np.int64)
    medias = np.asarray(medias, dtype=np.int64)
    if features.ndim != 2 or templates.shape != (len(features),) or medias.shape != templates.shape:
        raise ValueError(
            f"need (N, D) features and N templates and medias, got shapes {features.shape}, "
            f"{templates.shape}, {medias.shape}"
        )
    ids = np.unique(templates)
    embedded = ~np.isnan(features).any(axis=1)
    # The summing matrix's columns are the embedded images' rows, so no copy leaves out the others.
    columns, templates, medias = np.flatnonzero(embedded), templates[embedded], medias[embedded]
    if normalize_images:
        features = normalize(np.asarray(features[embedded], dtype=np.float64))
        columns = np.arange(columns.size)
    weights = np.ones(columns.size)
    if detector_scores is not None:
        scores = np.asarray(detector_scores, dtype=np.float64)
        if scores.shape != embedded.shape:
            raise ValueError(f"{scores.size} detector scores for {embedded.size} images")
        weights = scores[embedded]
    # A media's mean is the sum of its images over their number, so the sum of a template's
    # media means is one weighted sum of its images: a sparse (templates x images) product.
    _, media_of, media_sizes = np.unique(
        np.stack([templates, medias], axis=1), axis=0, return_inverse=True, return_counts=True
    )
    weights = weights / media_sizes[media_of.reshape(-1)]
    rows = np.searchsorted(ids, templates)
    summing = csr_matrix((weights, (rows, columns)), shape=(ids.size, len(features)))
    sums = np.empty((ids.size, features.shape[1]))
    for start in range(0, features.shape[1], _COLUMN_BLOCK):
        block = slice(start, start + _COLUMN_BLOCK)  # each sum adds the same terms in the same order
        sums[:, block] = summing @ np.asarray(features[:, block], dtype=np.float64)
    result = np.full(sums.shape, np.nan)
    present = np.zeros(ids.size, dtype=bool)
    present[rows] = True
    if present.any():  # sklearn refuses an empty array
        result[present] = normalize(sums[present])
    return ids, result


def verification_scores(
    template_ids: np.ndarray, template_features: np.ndarray, pairs_a: np.ndarray, pairs_b: np.ndarray
) -> np.ndarray:
    """The cosine of each template pair: the dot product of the (L2-normalised) template features,
    as insightface scores them; NaN where a template has no feature."""
    features = np.asarray(template_features, dtype=np.float64)
    pairs_a, pairs_b = np.asarray(pairs_a).reshape(-1), np.asarray(pairs_b).reshape(-1)
    if pairs_a.size != pairs_b.size:
        raise ValueError(f"{pairs_a.size} first templates but {pairs_b.size} second ones")
    rows_a, rows_b = np.split(_rows(template_ids, np.concatenate([pairs_a, pairs_b])), 2)
    scores = np.empty(rows_a.size)
    for start in range(0, rows_a.size, _PAIR_BATCH):
        batch = slice(start, start + _PAIR_BATCH)
        scores[batch] = np.einsum("ij,ij->i", features[rows_a[batch]], features[rows_b[batch]])
    return scores


@dataclass(frozen=True, eq=False)
class TarAtFar:
    """The 1:1 table. ``tar`` is the strict figure: the highest TAR whose FAR is <= the target
    (as ``bench.metrics.verification``). ``tar_insightface`` is insightface's: the TPR of the
    ROC point whose FPR is nearest the target (ties to the higher TPR), which may lie above the
    target. A target below ``1 / num_negative`` cannot be measured: NaN in both. ``fpr``/``tpr``
    are the ROC insightface plots (sklearn's, collinear points dropped); ``auc`` is its area."""

    tar: dict[float, float]
    tar_insightface: dict[float, float]
    auc: float
    num_positive: int
    num_negative: int
    #: Pairs with a NaN score (a template without a feature), left out of every figure.
    num_unscored: int
    fpr: np.ndarray = field(repr=False)
    tpr: np.ndarray = field(repr=False)


def tar_at_far_table(scores: np.ndarray, labels: np.ndarray, fars: Sequence[float] = IJB_FARS) -> TarAtFar:
    """TAR at each FAR in ``fars`` for pair ``scores`` (higher = same) against ``labels`` (1 same)."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels)
    if scores.ndim != 1 or scores.shape != labels.shape:
        raise ValueError(f"need 1-D scores and labels of one length, got {scores.shape} and {labels.shape}")
    if not np.isin(labels, (0, 1)).all():
        raise ValueError(f"labels must be 0 or 1, got values {np.unique(labels)[:10].tolist()}")
    if np.isinf(scores).any():
        raise ValueError(f"{int(np.isinf(scores).sum())} scores are infinite")
    for far in fars:
        if not 0 < far <= 1:
            raise ValueError(f"FAR targets must lie in (0, 1], got {far}")
    scored = ~np.isnan(scores)
    scores, labels = scores[scored], labels[scored].astype(np.int64)
    num_positive = int(labels.sum())
    num_negative = int(labels.size - num_positive)
    if num_positive == 0 or num_negative == 0:
        raise ValueError(
            f"TAR at FAR needs scored pairs of both labels, got {num_positive} same, {num_negative} not"
        )

    full_fpr, full_tpr, _ = roc_curve(labels, scores, drop_intermediate=False)
    fpr, tpr = _drop_intermediate(full_fpr, full_tpr, num_negative, num_positive)
    # insightface reverses the ROC and takes the first minimum of |fpr - far|: the nearest point,
    # ties going to the later point on the ROC (the higher TPR).
    reversed_fpr, reversed_tpr = fpr[::-1], tpr[::-1]
    tar, tar_insightface = {}, {}
    for far in map(float, fars):
        measurable = far * num_negative + _SLACK >= 1
        tar[far] = roc_tar_at_far(full_fpr, full_tpr, far) if measurable else math.nan
        nearest = int(np.argmin(np.abs(reversed_fpr - far)))
        tar_insightface[far] = float(reversed_tpr[nearest]) if measurable else math.nan
    return TarAtFar(
        tar=tar,
        tar_insightface=tar_insightface,
        auc=float(auc(fpr, tpr)),
        num_positive=num_positive,
        num_negative=num_negative,
        num_unscored=int((~scored).sum()),
        fpr=fpr,
        tpr=tpr,
    )


def _drop_intermediate(
    fpr: np.ndarray, tpr: np.ndarray, num_negative: int, num_positive: int
) -> tuple[np.ndarray, np.ndarray]:
    """The ROC of insightface's call, ``roc_curve(labels, scores)``, from the full one: sklearn
    keeps the first and last point and those where the false or true positive count bends (a
    second difference not 0), then prepends (0, 0). Taken from the full curve, IJB-C's 15.7
    million scores are sorted once, not twice; the counts come back exactly from the rates."""
    false_positives, true_positives = np.rint(fpr[1:] * num_negative), np.rint(tpr[1:] * num_positive)
    if false_positives.size <= 2:
        return fpr, tpr
    bends = (np.diff(false_positives, 2) != 0) | (np.diff(true_positives, 2) != 0)
    kept = np.flatnonzero(np.r_[True, True, bends, True])  # (0, 0), then sklearn's kept points
    return fpr[kept], tpr[kept]


@dataclass(frozen=True, eq=False)
class Identification:
    """Open-set identification of probes against one gallery.

    A probe is *mated* when its subject is in the gallery. Its rank is 1 + the number of other
    gallery templates scoring at least its mate (ties count against it); ``hits[k]`` counts the
    mated probes of rank <= k. TPIR at an FPIR counts the mated probes of rank 1 whose mate score
    passes a threshold set on the best score of each non-mated probe, over the mated probes:

    * ``tpir_insightface`` (``ijb_evals.py``): threshold = the ``max(int(n * fpir), 1)``-th highest
      of the ``n`` non-mated best scores, passed by a higher score; so one false alarm fewer
      than the budget is allowed;
    * ``tpir`` (strict): the lowest threshold at which at most ``floor(n * fpir)`` non-mated
      probes alarm.

    An FPIR below ``1 / n`` cannot be measured: NaN in both.
    """

    hits: dict[int, int]
    tpir: dict[float, float]
    tpir_insightface: dict[float, float]
    num_mated: int
    num_nonmated: int
    #: Probes without a feature, left out.
    num_unscored: int
    #: Gallery templates without a feature: never retrieved, so their mated probes miss.
    num_unscored_gallery: int

    @property
    def cmc(self) -> dict[int, float]:
        """The share of mated probes found within each rank."""
        return {
            rank: hits / self.num_mated if self.num_mated else math.nan for rank, hits in self.hits.items()
        }


def identification(
    probe_features: np.ndarray,
    probe_subjects: np.ndarray,
    gallery_features: np.ndarray,
    gallery_subjects: np.ndarray,
    ranks: Sequence[int] = IJB_RANKS,
    fpirs: Sequence[float] = IJB_FPIRS,
) -> Identification:
    """CMC and TPIR at FPIR of probe template features against one gallery's (one template per
    subject, as in IJB-B/C and as insightface assumes); similarity is the dot product."""
    probes = np.asarray(probe_features, dtype=np.float64)
    gallery = np.asarray(gallery_features, dtype=np.float64)
    probe_subjects = np.asarray(probe_subjects, dtype=np.int64)
    gallery_subjects = np.asarray(gallery_subjects, dtype=np.int64)
    if probes.ndim != 2 or gallery.ndim != 2 or probes.shape[1] != gallery.shape[1]:
        raise ValueError(
            f"need (P, D) probe and (G, D) gallery features, got {probes.shape}, {gallery.shape}"
        )
    if probe_subjects.shape != (len(probes),) or gallery_subjects.shape != (len(gallery),):
        raise ValueError("need one subject per probe and per gallery template")
    subjects, counts = np.unique(gallery_subjects, return_counts=True)
    if subjects.size == 0 or (counts > 1).any():
        raise ValueError(
            f"a gallery needs one template per subject; repeated: {subjects[counts > 1][:10].tolist()}"
        )

    scored = ~np.isnan(probes).any(axis=1)
    probes, probe_subjects = probes[scored], probe_subjects[scored]
    unretrievable = np.isnan(gallery).any(axis=1)
    similarity = probes @ np.where(unretrievable[:, None], 0.0, gallery).T
    similarity[:, unretrievable] = -np.inf

    order = np.argsort(gallery_subjects)
    position = np.minimum(np.searchsorted(gallery_subjects[order], probe_subjects), order.size - 1)
    mated = gallery_subjects[order][position] == probe_subjects
    mate = order[position[mated]]
    mated_similarity = similarity[mated]
    mate_score = mated_similarity[np.arange(mate.size), mate]
    others = np.ones(mated_similarity.shape, dtype=bool)
    others[np.arange(mate.size), mate] = False
    rank = 1 + ((mated_similarity >= mate_score[:, None]) & others).sum(axis=1)
    rank = np.where(np.isfinite(mate_score), rank, np.iinfo(np.int64).max)

    num_mated, num_nonmated = int(mated.sum()), int((~mated).sum())
    best_nonmated = np.sort(similarity[~mated].max(axis=1))[::-1]
    found = rank == 1
    tpir, tpir_insightface = {}, {}
    for fpir in map(float, fpirs):
        if not 0 < fpir <= 1:
            raise ValueError(f"FPIR targets must lie in (0, 1], got {fpir}")
        allowed = math.floor(num_nonmated * fpir + _SLACK)
        if allowed == 0 or num_mated == 0:
            tpir[fpir] = tpir_insightface[fpir] = math.nan
            continue
        strict_threshold = best_nonmated[allowed] if allowed < num_nonmated else -np.inf
        insightface_threshold = best_nonmated[max(int(num_nonmated * fpir) - 1, 0)]
        tpir[fpir] = float(np.sum(found & (mate_score > strict_threshold)) / num_mated)
        tpir_insightface[fpir] = float(np.sum(found & (mate_score > insightface_threshold)) / num_mated)
    return Identification(
        hits={int(k): int(np.sum(rank <= k)) for k in ranks},
        tpir=tpir,
        tpir_insightface=tpir_insightface,
        num_mated=num_mated,
        num_nonmated=num_nonmated,
        num_unscored=int((~scored).sum()),
        num_unscored_gallery=int(unretrievable.sum()),
    )


@dataclass(frozen=True, eq=False)
class IjbIdentification:
    """The 1:N protocol: one probe set against each gallery (IJB-C G1, G2; IJB-B S1, S2).

    As insightface's ``ijb_evals.py``: TPIR is the mean over galleries, and the CMC pools the
    galleries' hits. insightface divides the hits by the number of probes, this by the mated
    probes summed over galleries: the same number in IJB-B/C, where each probe's subject is in
    exactly one gallery; elsewhere a probe in no gallery would count as a miss there, not here.
    """

    galleries: dict[str, Identification]

    @property
    def cmc(self) -> dict[int, float]:
        mated = sum(result.num_mated for result in self.galleries.values())
        ranks = next(iter(self.galleries.values())).hits
        return {
            rank: sum(result.hits[rank] for result in self.galleries.values()) / mated if mated else math.nan
            for rank in ranks
        }

    @property
    def tpir(self) -> dict[float, float]:
        return self._mean("tpir")

    @property
    def tpir_insightface(self) -> dict[float, float]:
        return self._mean("tpir_insightface")

    def _mean(self, name: str) -> dict[float, float]:
        tables = [getattr(result, name) for result in self.galleries.values()]
        return {fpir: float(np.mean([table[fpir] for table in tables])) for fpir in tables[0]}


def ijb_identification(
    template_ids: np.ndarray,
    template_features: np.ndarray,
    probe_subjects: Mapping[int, int],
    gallery_subjects: Mapping[str, Mapping[int, int]],
    ranks: Sequence[int] = IJB_RANKS,
    fpirs: Sequence[float] = IJB_FPIRS,
) -> IjbIdentification:
    """:func:`identification` of the probe templates against each gallery, from the template
    features of :func:`template_features` and the template -> subject maps of the protocol."""
    if not gallery_subjects:
        raise ValueError("the 1:N protocol needs at least one gallery")
    features = np.asarray(template_features, dtype=np.float64)

    def side(subjects: Mapping[int, int]) -> tuple[np.ndarray, np.ndarray]:
        templates = np.array(sorted(subjects), dtype=np.int64)
        return features[_rows(template_ids, templates)], np.array([subjects[t] for t in templates.tolist()])

    probes = side(probe_subjects)
    return IjbIdentification(
        {
            name: identification(*probes, *side(gallery), ranks, fpirs)
            for name, gallery in gallery_subjects.items()
        }
    )


def _rows(template_ids: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """The row of each ``wanted`` template in ``template_ids``; every one must be there, once."""
    ids = np.asarray(template_ids, dtype=np.int64)
    wanted = np.asarray(wanted, dtype=np.int64)
    order = np.argsort(ids, kind="stable")
    ordered = ids[order]
    if (np.diff(ordered) == 0).any():
        raise ValueError(
            f"template ids repeat: {np.unique(ordered[1:][np.diff(ordered) == 0])[:10].tolist()}"
        )
    position = np.minimum(np.searchsorted(ordered, wanted), max(ordered.size - 1, 0))
    known = ordered[position] == wanted if ordered.size else np.zeros(wanted.shape, dtype=bool)
    if not known.all():
        unknown = np.unique(wanted[~known])
        more = f" and {unknown.size - 10} more" if unknown.size > 10 else ""
        raise ValueError(f"{unknown.size} template(s) have no feature row: {unknown[:10].tolist()}{more}")
    return order[position]
