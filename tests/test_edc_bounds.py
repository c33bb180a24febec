"""benchmarks/edc_bounds.py: the oracle bounds on what a per-image quality signal's
error-versus-discard curve can reach."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from bench.metrics.edc import PAUC_DISCARD_LIMIT
from bench.paths import project_root

from .conftest import load_script

SCRIPT = project_root() / "benchmarks" / "edc_bounds.py"
#: A small subset, at severity 5 so that even so few pairs have false non-matches at their threshold.
SUBSET = ("dataset.folds=[0]", "dataset.pairs_per_fold=100", "stress.severity=5")
REPORT_KEYS = {"cpu", "overrides", "fnmr", "random_pauc_20", "ideal_pauc_20", "signals", "oracles"}


@pytest.fixture(scope="module")
def edc_bounds() -> ModuleType:
    return load_script(SCRIPT)


def test_worst_genuine_is_each_images_lowest_scored_genuine_pair(edc_bounds: ModuleType) -> None:
    index_a = np.array([0, 0, 1, 2, 3, 0])
    index_b = np.array([1, 2, 3, 1, 4, 3])
    scores = np.array([0.6, 0.3, 0.9, 0.8, 0.1, np.nan])
    labels = np.array([1, 1, 0, 1, 0, 1])
    worst = edc_bounds.oracle_worst_genuine(scores, labels, index_a, index_b, num_images=5)
    # 0: genuine 0.6 and 0.3; 1: 0.6 and 0.8; 2: 0.3 and 0.8; 3: an impostor and an unscored
    # genuine pair only; 4: an impostor only. Images in no scored genuine pair are never the worse.
    np.testing.assert_array_equal(worst, [0.3, 0.6, 0.3, np.inf, np.inf])


def test_the_pairs_own_score_reaches_the_ideal(edc_bounds: ModuleType) -> None:
    rng = np.random.default_rng(0)
    num_genuine = 2000
    scores = np.concatenate([rng.normal(0.55, 0.15, num_genuine), rng.normal(0.1, 0.1, 4000)])
    labels = np.concatenate([np.ones(num_genuine, int), np.zeros(4000, int)])
    assert np.unique(scores).size == scores.size
    curve = edc_bounds.oracle_pair_score(scores, labels, 1e-3)
    assert curve.initial_fnmr > 0.05
    ideal = curve.ideal_pauc_20 / curve.random_pauc_20
    # The ideal is the continuous curve; discarding one pair at a time holds each step's FNMR
    # for 1 / num_genuine, which adds at most initial FNMR / num_genuine to the area.
    assert ideal - 1e-12 <= edc_bounds.ratio(curve) <= ideal + 1 / (PAUC_DISCARD_LIMIT * num_genuine)


def test_a_face_moved_by_a_geometric_stress_is_mapped_back_to_the_clean_image(edc_bounds: ModuleType) -> None:
    from bench.detectors.base import Face

    # Clean to stressed: scaled by 2 about the origin, then shifted by (10, 6).
    transform = np.array([[2.0, 0.0, 10.0], [0.0, 2.0, 6.0]])
    landmarks = np.array([[30, 26], [50, 26], [40, 36], [34, 46], [46, 46]])
    face = edc_bounds.face_on_clean(Face(box=[10, 6, 90, 86], score=0.9, landmarks=landmarks), transform)
    np.testing.assert_allclose(face.box, [0, 0, 40, 40], atol=1e-5)
    np.testing.assert_allclose(face.landmarks, [[10, 10], [20, 10], [15, 15], [12, 20], [18, 20]], atol=1e-5)
    assert face.score == 0.9


def test_a_real_run_reports_every_bound(edc_bounds: ModuleType, tmp_path: Path) -> None:
    out = tmp_path / "bounds.json"
    edc_bounds.main(["--out", str(out), *SUBSET])
    report = json.loads(out.read_text())
    assert set(report) >= REPORT_KEYS
    assert report["overrides"][-len(SUBSET) :] == list(SUBSET)
    assert set(report["oracles"]) == {"oracle_noise_damage", "oracle_worst_genuine", "oracle_pair_score"}
    assert "sharpness" in report["signals"]
    assert report["fnmr"] > 0
    for name, value in {**report["signals"], **report["oracles"]}.items():
        assert math.isfinite(value), name
