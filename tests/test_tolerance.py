"""The alignment-tolerance curve: controlled landmark errors, reference landmarks, NME, and the
report a reference sweep leaves on its parent run."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from bench.alignment.perturbation import perturb_face
from bench.config import Perturbation, PerturbationConfig
from bench.detectors import FIVE_POINTS, Face
from bench.detectors.reference import median_face
from bench.reporting.tolerance import LandmarkRun, landmark_error, tolerance_report

from .cli import run_bench
from .cli import store as store
from .test_sweep import artifact_names

#: Five points of a face with an inter-ocular distance of 40 px.
POINTS = np.array([[100.0, 100.0], [140.0, 100.0], [120.0, 125.0], [104.0, 145.0], [136.0, 145.0]])
FACE = Face(box=np.array([80.0, 70.0, 160.0, 170.0]), score=0.9, landmarks=POINTS)


def moved(kind: Perturbation, magnitude: float, key: str = "a/b.jpg:0") -> tuple[np.ndarray, float]:
    face, error = perturb_face(FACE, PerturbationConfig(kind=kind, magnitude=magnitude), key)
    assert face.landmarks is not None
    return face.landmarks.astype(np.float64), error


def test_each_kind_moves_the_points_as_documented() -> None:
    centre = POINTS.mean(axis=0)
    shifted, error = moved(Perturbation.shift, 0.1)
    # Faces hold float32 points: equal to ~1e-6 relative.
    np.testing.assert_allclose(np.linalg.norm(shifted - POINTS, axis=1), 4.0, rtol=1e-5)  # 0.1 x 40 px
    assert error == pytest.approx(0.1, rel=1e-5)
    scaled, error = moved(Perturbation.scale, 0.2)
    factor = np.linalg.norm(scaled - centre, axis=1) / np.linalg.norm(POINTS - centre, axis=1)
    assert np.allclose(factor, 1.2, rtol=1e-5) or np.allclose(factor, 0.8, rtol=1e-5)
    assert error == pytest.approx(0.2 * np.linalg.norm(POINTS - centre, axis=1).mean() / 40, rel=1e-5)
    turned, error = moved(Perturbation.rotation, 10.0)
    radii = np.linalg.norm(POINTS - centre, axis=1)
    np.testing.assert_allclose(np.linalg.norm(turned - centre, axis=1), radii, rtol=1e-5)
    assert error == pytest.approx(2 * math.sin(math.radians(5)) * radii.mean() / 40, rel=1e-5)


def test_noise_is_drawn_per_image_and_the_same_every_time() -> None:
    first, error = moved(Perturbation.noise, 0.05)
    again, _ = moved(Perturbation.noise, 0.05)
    other, _ = moved(Perturbation.noise, 0.05, key="a/c.jpg:0")
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)
    # Over many images, the mean point distance of Gaussian noise is sigma x sqrt(pi / 2).
    errors = [moved(Perturbation.noise, 0.05, key=f"image{index}")[1] for index in range(2000)]
    assert np.mean(errors) == pytest.approx(0.05 * math.sqrt(math.pi / 2), rel=0.03)
    assert error > 0


def test_a_face_without_eyes_is_left_as_it_is() -> None:
    crop = Face(box=np.array([0.0, 0.0, 50.0, 50.0]), score=1.0)
    face, error = perturb_face(crop, PerturbationConfig(kind=Perturbation.noise, magnitude=0.1), "x")
    assert face is crop and math.isnan(error)


def test_the_reference_is_the_median_of_at_least_min_methods() -> None:
    faces = [
        Face(box=FACE.box, score=0.9, landmarks=POINTS),
        Face(box=FACE.box + 2, score=0.8, landmarks=POINTS + 2),
        Face(box=FACE.box + 100, score=0.7, landmarks=POINTS + 100),  # another face: outvoted
    ]
    reference = median_face(faces, 3)
    assert reference is not None and reference.landmark_names == FIVE_POINTS
    np.testing.assert_allclose(reference.landmarks, POINTS + 2)
    assert median_face(faces[:2], 3) is None


def test_landmark_error_is_over_the_reference_inter_ocular_distance() -> None:
    truth = {("a.jpg", False): POINTS, ("b.jpg", False): POINTS * 2}
    guess = {
        ("a.jpg", False): POINTS + np.array([4.0, 0.0]),
        ("b.jpg", False): POINTS * 2 + np.array([0.0, 4.0]),
    }
    error, images = landmark_error(guess, truth, FIVE_POINTS)
    assert images == 2 and error == pytest.approx((4 / 40 + 4 / 80) / 2)
    partial = {("a.jpg", False): np.where(np.arange(5)[:, None] < 2, POINTS + 8.0, np.nan)}
    assert landmark_error(partial, truth, FIVE_POINTS) == (pytest.approx(np.hypot(8, 8) / 40), 1)


def test_the_report_puts_the_methods_on_the_reference_curve(tmp_path: Path) -> None:
    truth = {(f"{index}.jpg", False): POINTS + index for index in range(4)}

    def run(label: str, accuracy: float, shift: float, kind: str = "none", size: float = 0.0) -> LandmarkRun:
        points = {key: value + np.array([shift, 0.0]) for key, value in truth.items()}
        return LandmarkRun(label, accuracy, points, FIVE_POINTS, kind, size)

    references = [run("0", 0.99, 0.0, "noise", 0.0), run("0.1", 0.97, 4.0, "noise", 0.1)]
    files = tolerance_report(references, [run("yunet", 0.985, 2.0)], tmp_path)
    table = pd.read_csv(files[0]).set_index("label")
    assert table.loc["0.1", "nme"] == pytest.approx(0.1) and table.loc["yunet", "nme"] == pytest.approx(0.05)
    assert (tmp_path / "alignment_tolerance.png").stat().st_size > 0
    with pytest.raises(ValueError, match="unperturbed reference"):
        tolerance_report(references[1:], [], tmp_path)


def test_a_reference_sweep_reports_the_curve_with_the_methods_clean_runs(
    store: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    uri, env = store
    subset = ("dataset.folds=[0]", "dataset.pairs_per_fold=20")
    methods = run_bench(*subset, "detector=yunet,mtcnn", f"hydra.sweep.dir={tmp_path / 'a'}", "-m", env=env)
    assert methods.returncode == 0, methods.stderr
    curve = run_bench(
        *subset,
        "detector=reference",
        "perturbation.kind=noise",
        "perturbation.magnitude=0,0.2",
        f"hydra.sweep.dir={tmp_path / 'b'}",
        "-m",
        env=env,
    )
    assert curve.returncode == 0, curve.stderr
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("face-alignment")
    assert experiment is not None
    parents = [
        run
        for run in client.search_runs([experiment.experiment_id])
        if run.info.run_name.startswith("sweep-")
    ]
    latest = max(parents, key=lambda run: run.info.start_time)
    assert artifact_names(client, latest) >= {"alignment_tolerance.csv", "alignment_tolerance.png"}
    table = pd.read_csv(
        client.download_artifacts(latest.info.run_id, "alignment_tolerance.csv", str(tmp_path))
    )
    assert set(table[table["role"] == "method"]["label"]) == {"yunet", "mtcnn"}
    reference = table[table["role"] == "reference"].sort_values("magnitude")
    assert reference["nme"].tolist()[0] == 0.0
    assert 0.15 < reference["nme"].tolist()[1] < 0.35  # 0.2 x sqrt(pi / 2)
    methods_nme = table[table["role"] == "method"]["nme"]
    assert ((methods_nme > 0) & (methods_nme < 0.1)).all()  # detectors agree with their median
