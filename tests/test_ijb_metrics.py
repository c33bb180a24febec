"""IJB evaluation against hand-computed values: template features (media averaging, detector-score
weighting, images that failed to embed), pair scores, the 1:1 TAR at FAR table with insightface's
and the strict figure, and 1:N CMC and TPIR at FPIR."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import roc_curve

from bench.metrics.ijb import (
    _drop_intermediate,
    identification,
    ijb_identification,
    tar_at_far_table,
    template_features,
    verification_scores,
)

# Template 1: media 10 holds two images (frames of one video), media 20 one; template 2 one image.
FEATURES = np.array([[2.0, 0.0], [0.0, 2.0], [3.0, 0.0], [0.0, 5.0]])
TEMPLATES = np.array([1, 1, 1, 2])
MEDIAS = np.array([10, 10, 20, 30])


def unit(vector: list[float]) -> np.ndarray:
    return np.asarray(vector) / np.linalg.norm(vector)


def test_a_template_sums_its_media_means() -> None:
    ids, features = template_features(FEATURES, TEMPLATES, MEDIAS)
    np.testing.assert_array_equal(ids, [1, 2])
    # Media 10: mean([2, 0], [0, 2]) = [1, 1]; media 20: [3, 0]; sum [4, 1]. The norms count.
    np.testing.assert_allclose(features, [unit([4, 1]), [0, 1]])


def test_image_features_can_be_normalised_first() -> None:
    _, features = template_features(FEATURES, TEMPLATES, MEDIAS, normalize_images=True)
    # [1, 0], [0, 1] -> media 10 [0.5, 0.5]; media 20 [1, 0]; sum [1.5, 0.5].
    np.testing.assert_allclose(features, [unit([1.5, 0.5]), [0, 1]])


def test_detector_scores_weight_each_image() -> None:
    _, features = template_features(FEATURES, TEMPLATES, MEDIAS, detector_scores=[1.0, 0.5, 0.25, 1.0])
    # [2, 0], [0, 1] -> media 10 [1, 0.5]; media 20 [0.75, 0]; sum [1.75, 0.5].
    np.testing.assert_allclose(features, [unit([1.75, 0.5]), [0, 1]])


def test_row_order_does_not_matter() -> None:
    """Interleaved templates and medias group as if sorted (the file order is arbitrary)."""
    rng = np.random.default_rng(0)
    features = rng.normal(size=(40, 8))
    templates = rng.integers(5, 12, size=40)
    medias = templates * 100 + rng.integers(0, 3, size=40)
    scores = rng.uniform(0.5, 1, size=40)
    ids, expected = template_features(features, templates, medias, scores)
    order = rng.permutation(40)
    shuffled_ids, shuffled = template_features(
        features[order], templates[order], medias[order], scores[order]
    )
    np.testing.assert_array_equal(shuffled_ids, ids)
    np.testing.assert_allclose(shuffled, expected, atol=1e-12)
    # And one template by hand: the sum over its medias of each media's mean.
    rows = templates == ids[0]
    by_hand = sum(
        (features[rows & (medias == m)] * scores[rows & (medias == m), None]).mean(axis=0)
        for m in np.unique(medias[rows])
    )
    np.testing.assert_allclose(expected[0], by_hand / np.linalg.norm(by_hand), atol=1e-12)


def test_images_that_failed_are_left_out_and_an_empty_template_is_nan() -> None:
    features = FEATURES.copy()
    features[1] = np.nan  # one frame of media 10: the media is the other frame alone
    features[3] = np.nan  # template 2's only image
    ids, templates = template_features(features, TEMPLATES, MEDIAS)
    np.testing.assert_allclose(templates[0], unit([5, 0]))
    assert np.isnan(templates[1]).all()
    scores = verification_scores(ids, templates, [1, 1], [2, 1])
    assert math.isnan(scores[0]) and scores[1] == pytest.approx(1.0)

    ids, templates = template_features(np.full((4, 2), np.nan), TEMPLATES, MEDIAS)
    np.testing.assert_array_equal(ids, [1, 2])
    assert np.isnan(templates).all()


def test_pair_scores_are_cosines() -> None:
    ids = np.array([7, 3, 5])
    features = np.array([unit([1, 0]), unit([1, 1]), unit([-1, 0])])
    scores = verification_scores(ids, features, [7, 7, 3], [3, 5, 3])
    np.testing.assert_allclose(scores, [math.sqrt(0.5), -1.0, 1.0])
    with pytest.raises(ValueError, match=r"2 template\(s\) have no feature row: \[4, 9\]"):
        verification_scores(ids, features, [7, 4], [9, 3])


# Same pairs score 0.9, 0.8, 0.4; different 0.85, 0.5, 0.3, 0.2, 0.1. ROC (threshold: FPR, TPR):
# 0.9: 0, 1/3; 0.85: 1/5, 1/3; 0.8: 1/5, 2/3; 0.5: 2/5, 2/3; 0.4: 2/5, 1; then FPR 3/5 .. 1 at TPR 1.
SCORES = np.array([0.9, 0.8, 0.4, 0.85, 0.5, 0.3, 0.2, 0.1])
LABELS = np.array([1, 1, 1, 0, 0, 0, 0, 0])


def test_tar_at_far_against_the_hand_computed_roc() -> None:
    table = tar_at_far_table(SCORES, LABELS, fars=(0.2, 0.35, 0.5, 1.0))
    # At 0.2 both figures agree. At 0.35 the strict figure stays at FPR 0.2; insightface takes
    # the nearest point, FPR 0.4 (beyond the budget), and of the two there the higher TPR.
    assert table.tar == pytest.approx({0.2: 2 / 3, 0.35: 2 / 3, 0.5: 1.0, 1.0: 1.0})
    assert table.tar_insightface == pytest.approx({0.2: 2 / 3, 0.35: 1.0, 0.5: 1.0, 1.0: 1.0})
    # 12 of the 15 (same, different) pairs are ordered right.
    assert table.auc == pytest.approx(12 / 15)
    assert (table.num_positive, table.num_negative, table.num_unscored) == (3, 5, 0)
    assert table.fpr[0] == 0 and table.tpr[-1] == 1 and table.fpr.shape == table.tpr.shape


def test_a_far_below_one_negative_is_not_measurable() -> None:
    table = tar_at_far_table(SCORES, LABELS, fars=(1e-6, 0.1, 0.2))
    assert math.isnan(table.tar[1e-6]) and math.isnan(table.tar[0.1])
    assert math.isnan(table.tar_insightface[1e-6]) and math.isnan(table.tar_insightface[0.1])
    assert table.tar[0.2] == pytest.approx(2 / 3)


def test_unscored_pairs_are_counted_and_left_out() -> None:
    scores = np.append(SCORES, [np.nan, np.nan])
    labels = np.append(LABELS, [1, 0])
    table = tar_at_far_table(scores, labels, fars=(0.2,))
    assert table.num_unscored == 2 and (table.num_positive, table.num_negative) == (3, 5)
    assert table.tar[0.2] == pytest.approx(2 / 3)


def test_tar_at_far_refuses_what_it_cannot_score() -> None:
    with pytest.raises(ValueError, match="both labels"):
        tar_at_far_table(np.array([0.5, np.nan]), np.array([1, 0]))
    with pytest.raises(ValueError, match="FAR targets"):
        tar_at_far_table(SCORES, LABELS, fars=(0.0,))
    with pytest.raises(ValueError, match="labels must be 0 or 1"):
        tar_at_far_table(SCORES, LABELS * 2)


def probe_rows(similarities: list[list[float]]) -> np.ndarray:
    """Unit probe features whose dot product with the gallery's basis vectors is ``similarities``:
    the rest of each row's norm goes into one extra dimension."""
    rows = np.asarray(similarities)
    rest = np.sqrt(1 - (rows**2).sum(axis=1, keepdims=True))
    return np.hstack([rows, rest])


GALLERY = np.eye(3, 4)  # three templates, of subjects 100, 200, 300
GALLERY_SUBJECTS = np.array([100, 200, 300])
PROBES = probe_rows(
    [
        [0.95, 0.2, 0.1],  # subject 100: mate 0.95, rank 1
        [0.3, 0.8, 0.1],  # 200: 0.8, rank 1
        [0.2, 0.1, 0.6],  # 300: 0.6, rank 1
        [0.6, 0.7, 0.0],  # 100: 0.6, rank 2
        [0.9, 0.0, 0.0],  # four subjects in no gallery: best scores 0.9, 0.7, 0.5, 0.3
        [0.0, 0.7, 0.0],
        [0.0, 0.0, 0.5],
        [0.3, 0.2, 0.1],
    ]
)
PROBE_SUBJECTS = np.array([100, 200, 300, 100, 901, 902, 903, 904])


def test_identification_against_hand_computed_cmc_and_tpir() -> None:
    result = identification(
        PROBES, PROBE_SUBJECTS, GALLERY, GALLERY_SUBJECTS, ranks=(1, 2, 3), fpirs=(0.1, 0.25, 0.5, 1.0)
    )
    assert (result.num_mated, result.num_nonmated, result.num_unscored) == (4, 4, 0)
    assert result.hits == {1: 3, 2: 4, 3: 4}
    assert result.cmc == {1: 0.75, 2: 1.0, 3: 1.0}
    # FPIR 0.25 of 4 non-mated probes allows one false alarm. Strict: accept above 0.7 (one
    # probe, 0.9, alarms): mates 0.95 and 0.8 pass. insightface: above 0.9 (none alarms): 0.95.
    # FPIR 0.5: strict above 0.5 (0.95, 0.8, 0.6); insightface above 0.7 (0.95, 0.8).
    # FPIR 1: every rank-1 mate, in both. FPIR 0.1 < 1/4: not measurable.
    assert result.tpir == pytest.approx({0.1: math.nan, 0.25: 0.5, 0.5: 0.75, 1.0: 0.75}, nan_ok=True)
    assert result.tpir_insightface == pytest.approx(
        {0.1: math.nan, 0.25: 0.25, 0.5: 0.5, 1.0: 0.75}, nan_ok=True
    )


def test_identification_ties_count_against_the_probe() -> None:
    probes = probe_rows([[0.5, 0.5, 0.0], [0.0, 0.0, 0.4]])
    result = identification(
        probes, np.array([100, 999]), GALLERY, GALLERY_SUBJECTS, ranks=(1, 2), fpirs=(1.0,)
    )
    assert result.hits == {1: 0, 2: 1}
    assert result.tpir == {1.0: 0.0}


def test_identification_without_features() -> None:
    probes = PROBES.copy()
    probes[4] = np.nan  # a non-mated probe: left out
    gallery = GALLERY.copy()
    gallery[1] = np.nan  # subject 200's template: never retrieved
    result = identification(probes, PROBE_SUBJECTS, gallery, GALLERY_SUBJECTS, ranks=(1, 3), fpirs=(1.0,))
    assert (result.num_unscored, result.num_unscored_gallery) == (1, 1)
    assert (result.num_mated, result.num_nonmated) == (4, 3)
    # The probe of 200 misses at every rank; the rank-2 probe of 100 is now rank 1.
    assert result.hits == {1: 3, 3: 3}


def test_a_gallery_holds_one_template_per_subject() -> None:
    with pytest.raises(ValueError, match=r"one template per subject; repeated: \[100\]"):
        identification(PROBES, PROBE_SUBJECTS, GALLERY, np.array([100, 100, 300]))


def test_ijb_identification_pools_two_galleries() -> None:
    """Two galleries as in IJB-C: every probe is mated in one, non-mated in the other."""
    ids = np.array([1, 2, 11, 12, 13, 14])
    features = np.vstack(
        [np.eye(2, 4), probe_rows([[0.9, 0.1, 0], [0.2, 0.3, 0], [0.6, 0.5, 0], [0.1, 0.8, 0]])]
    )
    probes = {11: 100, 12: 100, 13: 200, 14: 200}
    galleries = {"G1": {1: 100}, "G2": {2: 200}}
    result = ijb_identification(ids, features, probes, galleries, ranks=(1,), fpirs=(0.5,))
    g1, g2 = result.galleries["G1"], result.galleries["G2"]
    assert (g1.num_mated, g1.num_nonmated, g2.num_mated, g2.num_nonmated) == (2, 2, 2, 2)
    # With one gallery template, every mate is rank 1. G1: non-mated best 0.6, 0.1; FPIR 0.5
    # allows one alarm: strict accepts above 0.1 (0.9, 0.2), insightface above 0.6 (0.9).
    # G2: non-mated best 0.3, 0.1 (probes 12 and 11); mates 0.5, 0.8: strict both, insightface both.
    assert g1.tpir == {0.5: 1.0} and g1.tpir_insightface == {0.5: 0.5}
    assert g2.tpir == {0.5: 1.0} and g2.tpir_insightface == {0.5: 1.0}
    assert result.cmc == {1: 1.0}
    assert result.tpir == {0.5: 1.0} and result.tpir_insightface == {0.5: 0.75}
    with pytest.raises(ValueError, match=r"1 template\(s\) have no feature row: \[99\]"):
        ijb_identification(ids, features, {99: 100}, galleries)


@pytest.mark.parametrize("seed", range(20))
def test_the_roc_trimmed_from_the_full_curve_is_sklearns(seed: int) -> None:
    # tar_at_far_table sorts IJB-C's 15.7 M scores once and trims the full ROC itself; the trimmed
    # curve must stay the one insightface's roc_curve(labels, scores) call gives, ties included.
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, 400)
    labels[:2] = (0, 1)
    scores = np.round(rng.normal(labels, 1.0), int(rng.integers(0, 3)))  # coarse: many ties
    fpr, tpr, _ = roc_curve(labels, scores)
    full_fpr, full_tpr, _ = roc_curve(labels, scores, drop_intermediate=False)
    trimmed = _drop_intermediate(full_fpr, full_tpr, int((labels == 0).sum()), int(labels.sum()))
    np.testing.assert_array_equal(trimmed[0], fpr)
    np.testing.assert_array_equal(trimmed[1], tpr)
