"""benchmarks/scale_ijbc.py: an IJB-C-size evaluation on synthetic features, timed against the
plain numpy floor of the same work. Here at small scales; the full size is the script's run."""

from __future__ import annotations

import math
from types import ModuleType

import numpy as np
import pytest

from bench.data.ijb import IjbProtocol
from bench.metrics.ijb import template_features, verification_scores
from bench.paths import project_root

from .conftest import load_script

SCRIPT = project_root() / "benchmarks" / "scale_ijbc.py"
SMALL = 0.002
#: Large enough that each gallery has over 100 non-mated probes, so TPIR at FPIR 1e-2 is defined.
MEASURED = 0.02


@pytest.fixture(scope="module")
def scale_ijbc() -> ModuleType:
    return load_script(SCRIPT)


@pytest.fixture(scope="module")
def synthetic(scale_ijbc: ModuleType) -> tuple[IjbProtocol, np.ndarray]:
    return scale_ijbc.synthetic_ijbc(SMALL)


def test_the_full_counts_are_ijbcs(scale_ijbc: ModuleType) -> None:
    counts = scale_ijbc.IJBC
    assert (counts.images, counts.templates, counts.pairs, counts.genuine) == (
        469_375,
        23_124,
        15_658_489,
        19_557,
    )
    assert (counts.subjects, counts.gallery_g1, counts.gallery_g2, counts.probes) == (
        3_531,
        1_772,
        1_759,
        19_593,
    )
    assert counts.scaled(1.0) == counts


def test_a_small_synthetic_ijbc_has_its_proportions(
    scale_ijbc: ModuleType, synthetic: tuple[IjbProtocol, np.ndarray]
) -> None:
    protocol, features = synthetic
    counts = scale_ijbc.IJBC.scaled(SMALL)
    assert isinstance(protocol, IjbProtocol) and protocol.target == "IJBC"
    assert len(protocol.image_names) == counts.images == round(469_375 * SMALL)
    assert np.unique(protocol.templates).size == counts.templates
    assert protocol.pairs_a.size == counts.pairs == round(15_658_489 * SMALL)
    assert int(protocol.labels.sum()) == counts.genuine == round(19_557 * SMALL)
    assert np.unique(np.stack([protocol.templates, protocol.medias]), axis=1).shape[1] > counts.templates

    assert protocol.probe_subjects is not None and protocol.gallery_subjects is not None
    galleries = protocol.gallery_subjects
    assert (len(galleries["G1"]), len(galleries["G2"])) == (counts.gallery_g1, counts.gallery_g2)
    assert len(protocol.probe_subjects) == counts.probes
    assert not set(galleries["G1"]) & set(galleries["G2"])
    assert not set(protocol.probe_subjects) & (set(galleries["G1"]) | set(galleries["G2"]))
    # One gallery template per subject, and every probe's subject in exactly one gallery.
    gallery_subjects = [*galleries["G1"].values(), *galleries["G2"].values()]
    assert len(set(gallery_subjects)) == len(gallery_subjects) == counts.subjects
    assert set(protocol.probe_subjects.values()) <= set(gallery_subjects)

    # A pair is genuine exactly when its two templates' subjects agree.
    subject = {**protocol.probe_subjects, **galleries["G1"], **galleries["G2"]}
    same = [
        subject[a] == subject[b]
        for a, b in zip(protocol.pairs_a.tolist(), protocol.pairs_b.tolist(), strict=True)
    ]
    np.testing.assert_array_equal(protocol.labels, same)

    assert features.dtype == np.float32 and features.shape == (counts.images, 512)
    np.testing.assert_allclose(np.linalg.norm(features, axis=1), 1, rtol=1e-5)


def test_the_synthetic_ijbc_is_seeded(
    scale_ijbc: ModuleType, synthetic: tuple[IjbProtocol, np.ndarray]
) -> None:
    protocol, features = synthetic
    again, again_features = scale_ijbc.synthetic_ijbc(SMALL)
    np.testing.assert_array_equal(again_features, features)
    for name in ("templates", "medias", "detector_scores", "pairs_a", "pairs_b", "labels"):
        np.testing.assert_array_equal(getattr(again, name), getattr(protocol, name))
    assert again.gallery_subjects == protocol.gallery_subjects
    _, other = scale_ijbc.synthetic_ijbc(SMALL, seed=1)
    assert not np.array_equal(other, features)


def test_the_floor_computes_what_the_evaluation_does(
    scale_ijbc: ModuleType, synthetic: tuple[IjbProtocol, np.ndarray]
) -> None:
    protocol, features = synthetic
    ids, expected = template_features(features, protocol.templates, protocol.medias, protocol.detector_scores)
    floor_ids, floor = scale_ijbc.floor_template_features(
        features, protocol.templates, protocol.medias, protocol.detector_scores
    )
    np.testing.assert_array_equal(floor_ids, ids)
    np.testing.assert_allclose(floor, expected, atol=1e-6)
    scores = scale_ijbc.floor_pair_scores(floor_ids, floor, protocol.pairs_a, protocol.pairs_b)
    np.testing.assert_allclose(
        scores, verification_scores(ids, expected, protocol.pairs_a, protocol.pairs_b), atol=1e-6
    )
    assert scale_ijbc.floor_seconds(protocol, features) > 0


def test_a_small_measurement_reports_every_figure(scale_ijbc: ModuleType) -> None:
    report = scale_ijbc.measure_ijbc(MEASURED)
    counts = scale_ijbc.IJBC.scaled(MEASURED)
    assert (report["images"], report["templates"], report["pairs"]) == (
        counts.images,
        counts.templates,
        counts.pairs,
    )
    for key in ("seconds", "floor_seconds", "ratio", "peak_rss_mb", "baseline_rss_mb"):
        assert math.isfinite(report[key]) and report[key] > 0, key
    assert report["peak_rss_mb"] >= report["baseline_rss_mb"]
    assert report["ratio"] == pytest.approx(report["seconds"] / report["floor_seconds"])
    # Identity structure: neither chance nor perfect.
    for key in ("tar_at_far_1e-4", "tpir_at_fpir_1e-2"):
        assert 0 < report[key] < 1, key
