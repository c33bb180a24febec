"""The detector x model matrix, the template mismatch table, and a sweep's per-model stress and
tolerance reports, on made-up runs: this checks the reporting logic, not any detector or model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from mlflow.entities import Param, Run, RunData, RunInfo
from mlflow.tracking import MlflowClient

from bench.detectors import FIVE_POINTS
from bench.metrics import keys
from bench.reporting import MethodRun, varying_labels
from bench.reporting.columns import column_keys
from bench.reporting.matrix import MATRIX_COLUMNS, MatrixRun, matrix_report
from bench.tracking import run_keys
from bench.tracking.pair_sweeps import compare_pair_runs
from bench.tracking.sweep_runs import SweepRuns

from .test_comparison import metrics_of, read_png

PAIRS = 80


def scores(kind: str, seed: int = 0) -> pd.DataFrame:
    """Two folds of alternating same and different pairs: ``perfect`` decides every pair right,
    ``chance`` scores them at random, ``good`` separates them with some overlap."""
    rng = np.random.default_rng(seed)
    same = np.tile([1, 0], PAIRS // 2)
    score = {
        "perfect": np.where(same == 1, 0.8, 0.1),
        "chance": rng.uniform(0, 1, PAIRS),
        "good": rng.normal(0.2 + 0.5 * same, 0.12),
    }[kind]
    return pd.DataFrame(
        {
            "fold": np.repeat([0, 1], PAIRS // 2),
            "image_a": [f"a{index}.jpg" for index in range(PAIRS)],
            "image_b": [f"b{index}.jpg" for index in range(PAIRS)],
            "same": same,
            "score": score,
            "both_detected": 1,
        }
    )


def method(label: str, frame: pd.DataFrame | None, accuracy: float | None = None) -> MethodRun:
    """A finished run; its metrics from ``frame``, or just ``accuracy`` without one."""
    if frame is not None:
        metrics = metrics_of(frame, images_per_s=10.0)
    else:
        metrics = {keys.ACCURACY: accuracy, keys.ACCURACY_STD: 0.01, keys.AUC: 0.9, keys.SUCCESS_RATE: 1.0}
    if accuracy is not None:
        metrics[keys.ACCURACY] = accuracy
    return MethodRun(label, f"run-{label}", "FINISHED", metrics, frame, {})


def cell(
    detector: str,
    model: str,
    accuracy: float | None = None,
    frame: pd.DataFrame | None = None,
    template: str = "native",
) -> MatrixRun:
    return MatrixRun(detector, model, template, method(f"{detector}/{model}/{template}", frame, accuracy))


def test_a_matrix_writes_its_table_heatmap_taus_and_markdown(tmp_path: Path) -> None:
    runs = [
        cell(detector, model, frame=scores(kind, seed))
        for seed, (detector, kind) in enumerate(
            (("yunet", "perfect"), ("mtcnn", "good"), ("center_crop", "chance"))
        )
        for model in ("edgeface_s", "sface")
    ]
    runs.append(
        MatrixRun("retinaface", "sface", "native", MethodRun("retinaface", "run-r", "FAILED", {}, None, {}))
    )
    files = matrix_report(runs, tmp_path)
    assert {path.name for path in files} == {
        "matrix.csv",
        "matrix_tau.csv",
        "matrix_significance.csv",
        "matrix_heatmap.png",
        "matrix.md",
    }
    assert all(path.parent == tmp_path and path.is_file() for path in files)
    read_png(tmp_path / "matrix_heatmap.png")
    table = pd.read_csv(tmp_path / "matrix.csv")
    assert list(table.columns) == list(column_keys(MATRIX_COLUMNS))
    # Best detector first, models in sweep order; the failed job is a row of its own, last.
    assert list(table["detector"]) == ["yunet"] * 2 + ["mtcnn"] * 2 + ["center_crop"] * 2 + ["retinaface"]
    assert list(table["model"])[:2] == ["edgeface_s", "sface"]
    yunet = table.iloc[0]
    assert yunet[keys.ACCURACY] == 1.0 and yunet[keys.SUCCESS_RATE] == 1.0
    assert yunet["model_common_pairs"] == PAIRS and yunet["group"] == "a"
    failed = table.iloc[-1]
    assert failed["status"] == "FAILED" and np.isnan(failed[keys.ACCURACY])
    markdown = (tmp_path / "matrix.md").read_text()
    assert "| detector | edgeface_s | sface |" in markdown
    assert "| yunet | 100.00 (a) | 100.00 (a) |" in markdown
    assert "| retinaface | - | - |" in markdown
    assert "edgeface_s: 3 of 4 detectors finished, missing retinaface (not run)" in markdown
    assert "sface: 3 of 4 detectors finished, missing retinaface (FAILED)" in markdown


def test_tau_is_one_for_the_same_order_and_minus_one_for_the_reverse(tmp_path: Path) -> None:
    accuracies = {"a": [0.99, 0.97, 0.95], "b": [0.90, 0.80, 0.70], "c": [0.91, 0.93, 0.95]}
    runs = [
        cell(detector, model, accuracy)
        for model, values in accuracies.items()
        for detector, accuracy in zip(("yunet", "mtcnn", "dlib_hog"), values, strict=True)
    ]
    runs.append(cell("scrfd", "a", 0.5))  # only model a ran it: a's taus use the 3 others
    matrix_report(runs, tmp_path)
    taus = pd.read_csv(tmp_path / "matrix_tau.csv").set_index(["model_a", "model_b"])
    assert list(taus.index) == [("a", "b"), ("a", "c"), ("b", "c")]
    assert taus.loc[("a", "b"), "tau"] == pytest.approx(1.0)
    assert taus.loc[("a", "c"), "tau"] == pytest.approx(-1.0)
    assert taus.loc[("b", "c"), "tau"] == pytest.approx(-1.0)
    assert (taus["detectors"] == 3).all()
    assert taus.loc[("a", "b"), "p_value"] == pytest.approx(1 / 3)  # exact: 1 of 6 orders, two-sided
    markdown = (tmp_path / "matrix.md").read_text()
    assert "| a | b | 3 | 1.000 | 0.3333 |" in markdown
    assert "b: 3 of 4 detectors finished, missing scrfd (not run)" in markdown
    assert "b: 0 detector(s) with pair scores, 2 are needed: no groups" in markdown
    assert not (tmp_path / "matrix_significance.csv").exists()  # no run here has pair scores


def test_groups_are_tested_within_each_model(tmp_path: Path) -> None:
    """Under model x, a perfect detector and its twin share a group and one at chance does not;
    under model y the three score alike and share one group."""
    frames = {"x": ("perfect", "perfect", "chance"), "y": ("perfect", "perfect", "perfect")}
    runs = [
        cell(detector, model, frame=scores(kind))
        for model, kinds in frames.items()
        for detector, kind in zip(("good", "twin", "bad"), kinds, strict=True)
    ]
    matrix_report(runs, tmp_path)
    table = pd.read_csv(tmp_path / "matrix.csv").set_index(["detector", "model"])
    assert table.loc[("good", "x"), "group"] == table.loc[("twin", "x"), "group"] == "a"
    assert table.loc[("bad", "x"), "group"] == "b"
    assert set(table.xs("y", level="model")["group"]) == {"a"}
    tests = pd.read_csv(tmp_path / "matrix_significance.csv")
    assert set(tests["model"]) == {"x", "y"} and len(tests) == 6  # 3 pairs of detectors per model
    assert tests[tests["model"] == "x"]["significant"].sum() == 2


def test_template_mismatch_measures_the_drop_from_native(tmp_path: Path) -> None:
    runs = [
        cell("yunet", "edgeface_s", 0.99),
        cell("yunet", "edgeface_s", 0.97, template="arcface_112"),
        cell("yunet", "edgeface_s", 0.90, template="dlib_chip_150"),
        cell("yunet", "sface", 0.98),
        cell("yunet", "dlib_resnet", 0.95, template="arcface_112"),
    ]
    files = matrix_report(runs, tmp_path)
    assert {path.name for path in files} == {"template_mismatch.csv", "template_mismatch.md"}  # one detector
    table = pd.read_csv(tmp_path / "template_mismatch.csv").set_index("model")
    assert list(table.columns) == [
        "detector",
        "accuracy_native",
        "accuracy_arcface_112",
        "accuracy_dlib_chip_150",
        "drop_arcface_112",
        "drop_dlib_chip_150",
    ]
    assert table.loc["edgeface_s", "drop_arcface_112"] == pytest.approx(0.02)
    assert table.loc["edgeface_s", "drop_dlib_chip_150"] == pytest.approx(0.09)
    assert np.isnan(table.loc["sface", "accuracy_arcface_112"])
    assert np.isnan(table.loc["dlib_resnet", "drop_arcface_112"])  # no native job
    markdown = (tmp_path / "template_mismatch.md").read_text()
    assert markdown.startswith("# Template mismatch")
    assert "| edgeface_s | 99.00 | 97.00 (drop 2.00) | 90.00 (drop 9.00) |" in markdown
    assert "yunet, dlib_resnet: no job on the native template, no drop" in markdown


def test_a_matrix_that_varies_templates_uses_native_cells_and_adds_the_mismatch(tmp_path: Path) -> None:
    runs = [cell(detector, model, 0.9) for detector in ("yunet", "mtcnn") for model in ("x", "y")]
    runs.append(cell("yunet", "x", 0.8, template="dlib_chip_150"))
    files = matrix_report(runs, tmp_path)
    assert "template_mismatch.csv" in {path.name for path in files}
    assert not (tmp_path / "template_mismatch.md").exists()
    table = pd.read_csv(tmp_path / "matrix.csv")
    assert len(table) == 4 and set(table["template"]) == {"native"}
    markdown = (tmp_path / "matrix.md").read_text()
    assert "## Template mismatch" in markdown and "| x | 90.00 | 80.00 (drop 10.00) |" in markdown
    assert "x: its cells are its jobs with model.template=native" in markdown


def test_one_model_or_one_detector_writes_no_matrix(tmp_path: Path) -> None:
    one_model = [cell(detector, "x", 0.9) for detector in ("yunet", "mtcnn", "dlib_hog")]
    one_detector = [cell("yunet", model, 0.9) for model in ("x", "y")]
    assert matrix_report(one_model, tmp_path / "a") == []
    assert matrix_report(one_detector, tmp_path / "b") == []
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_jobs_that_share_a_cell_write_no_matrix(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    runs = [cell(detector, model, 0.9) for detector in ("yunet", "mtcnn") for model in ("x", "y")]
    runs.append(cell("yunet", "x", 0.8))  # e.g. a sweep over model.flip too
    assert matrix_report(runs, tmp_path) == []
    assert "yunet/x/native" in caplog.text


# -- the sweep's reports per model -------------------------------------------------------------------


def child(job: int, params: dict[str, Any]) -> Run:
    info = RunInfo(f"run-{job}", "0", "user", "FINISHED", 0, 1, "active", run_name=f"job-{job}")
    return Run(info, RunData(params=[Param(key, str(value)) for key, value in params.items()]))


def sweep(tmp_path: Path, jobs: list[tuple[dict[str, Any], pd.DataFrame]], client: Any = None) -> SweepRuns:
    """The sweep as ``bench.tracking.sweep.report`` reads it back: labels from what varies."""
    children = [child(job, params) for job, (params, _) in enumerate(jobs)]
    labels = varying_labels([params for params, _ in jobs], run_keys.INCIDENTAL_PARAMS)
    runs = [
        MethodRun(label, run.info.run_id, "FINISHED", metrics_of(frame, 10.0), frame, {})
        for label, run, (_, frame) in zip(labels, children, jobs, strict=True)
    ]
    return SweepRuns(client, children, runs, tmp_path)


def test_a_stress_sweep_of_two_models_writes_a_stress_report_per_model(tmp_path: Path) -> None:
    jobs = [
        (
            {
                run_keys.DETECTOR_PARAM: detector,
                run_keys.MODEL_PARAM: model,
                run_keys.MODEL_TEMPLATE_PARAM: "native",
                run_keys.STRESS_PARAM: stress,
                run_keys.STRESS_SEVERITY_PARAM: severity,
            },
            scores("good", seed) if stress == "none" else scores("chance", seed),
        )
        for seed, (detector, model, (stress, severity)) in enumerate(
            (detector, model, condition)
            for detector in ("yunet", "mtcnn")
            for model in ("edgeface_s", "sface")
            for condition in (("none", 3), ("fog", 3))
        )
    ]
    _, files = compare_pair_runs(sweep(tmp_path, jobs))
    assert tmp_path / "stress_edgeface_s" in files and tmp_path / "stress_sface" in files
    assert not (tmp_path / "stress_summary.csv").exists()
    for model in ("edgeface_s", "sface"):
        results = pd.read_csv(tmp_path / f"stress_{model}" / "stress_results.csv")
        assert set(results["method"]) == {"yunet", "mtcnn"} and len(results) == 4
        assert (tmp_path / f"stress_{model}" / "stress_heatmap.png").is_file()
    # The clean jobs cross two detectors with two models: the matrix, at the top.
    matrix = pd.read_csv(tmp_path / "matrix.csv")
    assert len(matrix) == 4 and tmp_path / "matrix.csv" in files


class LandmarkClient:
    """What the tolerance report asks of MLflow: each run's ``landmarks.npz``, and no other runs."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def download_artifacts(self, run_id: str, name: str, into: str) -> str:
        assert name == run_keys.LANDMARKS_FILE
        return str(self.folder / f"{run_id}.npz")

    def search_runs(self, *args: object, **kwargs: object) -> list[Run]:
        return []


def test_a_reference_sweep_of_two_models_writes_a_tolerance_curve_per_model(tmp_path: Path) -> None:
    params = [
        {
            run_keys.DETECTOR_PARAM: "reference",
            run_keys.MODEL_PARAM: model,
            run_keys.PERTURBATION_PARAM: "shift",
            run_keys.PERTURBATION_MAGNITUDE_PARAM: magnitude,
        }
        for model in ("edgeface_s", "sface")
        for magnitude in (0.0, 0.1)
    ]
    landmarks = tmp_path / "landmarks"
    landmarks.mkdir()
    rng = np.random.default_rng(0)
    for job, own in enumerate(params):
        points = rng.uniform(40, 80, (3, len(FIVE_POINTS), 2)) * (
            1 + own[run_keys.PERTURBATION_MAGNITUDE_PARAM]
        )
        np.savez(
            landmarks / f"run-{job}.npz",
            paths=np.array(["a.jpg", "b.jpg", "c.jpg"]),
            stressed=np.zeros(3, dtype=bool),
            names=np.array(FIVE_POINTS),
            landmarks=points,
        )
    jobs = [(own, scores("good", job)) for job, own in enumerate(params)]
    client: MlflowClient = LandmarkClient(landmarks)  # type: ignore[assignment]
    _, files = compare_pair_runs(sweep(tmp_path / "report", jobs, client))
    for model in ("edgeface_s", "sface"):
        folder = tmp_path / "report" / f"tolerance_{model}"
        assert folder in files
        curve = pd.read_csv(folder / "alignment_tolerance.csv")
        assert len(curve) == 2 and (curve["role"] == "reference").all()
        assert curve["label"].str.contains(model).all()
    assert not (tmp_path / "report" / "alignment_tolerance.csv").exists()
