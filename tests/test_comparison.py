"""Sweep comparison: the table, the common subset, the ranking and the figures, on synthetic runs.

The runs are made up (LFW-like pair_scores.csv frames, random faces): this checks the reporting
logic, not any detector.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from bench.metrics import cross_validated_decisions, evaluate_verification, keys, mcnemar_exact
from bench.reporting import Comparison, MethodRun, compare_runs, plot_dashboard, varying_labels
from bench.reporting.comparison import COLUMNS, SPEED_METRICS, MissingMetricsError
from bench.reporting.dashboard import speed_comparable
from bench.reporting.plots import FACE_SIZE
from bench.tracking.run_keys import INCIDENTAL_PARAMS
from bench.tracking.sweep_runs import nan_metrics

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FOLDS, PAIRS_PER_FOLD = 2, 20
IMAGES = [f"Person_{index:02d}/Person_{index:02d}_0001.jpg" for index in range(12)]


def read_png(path: Path) -> np.ndarray:
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None and image.std() > 5
    return image


def pair_scores(seed: int, separation: float, missed: set[int], exclude: bool = False) -> pd.DataFrame:
    """Two folds of 10 same and 10 different pairs; pairs in ``missed`` were not both detected
    (scored on a fallback crop, or NaN when ``exclude``), their scores pulled towards chance."""
    rng = np.random.default_rng(seed)
    rows = []
    for number in range(FOLDS * PAIRS_PER_FOLD):
        fold, same = divmod(number, PAIRS_PER_FOLD)[0], int(number % 2 == 0)
        person = f"Person_{number:02d}/Person_{number:02d}"
        other = person if same else f"Other_{number:02d}/Other_{number:02d}"
        detected = number not in missed
        score = rng.normal(0.2 + (separation if detected else 0.05) * same, 0.12)
        rows.append(
            {
                "fold": fold,
                "image_a": f"{person}_0001.jpg",
                "image_b": f"{other}_0002.jpg",
                "same": same,
                "score": math.nan if exclude and not detected else round(float(score), 6),
                "both_detected": int(detected),
            }
        )
    return pd.DataFrame(rows)


def metrics_of(frame: pd.DataFrame, images_per_s: float, gpu_mb: float = 0.0) -> dict[str, float]:
    scored = frame[np.isfinite(frame["score"])]
    metrics = evaluate_verification(scored["score"], scored["same"], scored["fold"]).as_metrics()
    stages = {
        f"ms_per_image_{stage}": ms
        for stage, ms in zip(("decode", "detect", "align", "embed"), (2, 30, 1, 12), strict=True)
    }
    return (
        metrics
        | stages
        | {
            "success_rate": float(frame["both_detected"].mean()) ** 0.5,
            "pair_success_rate": float(frame["both_detected"].mean()),
            "images_per_s": images_per_s,
            "peak_rss_mb": 1200.0 + images_per_s,
            "peak_gpu_mb": gpu_mb,
            "num_images_computed": 24.0,
            "num_images_cached": 0.0,
        }
    )


def samples(seed: int, images: list[str] = IMAGES) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {image: rng.integers(0, 256, (FACE_SIZE, FACE_SIZE, 3), dtype=np.uint8) for image in images}


def finished(
    label: str, frame: pd.DataFrame, images_per_s: float, seed: int, gpu_mb: float = 0.0
) -> MethodRun:
    return MethodRun(
        label, f"run-{label}", "FINISHED", metrics_of(frame, images_per_s, gpu_mb), frame, samples(seed)
    )


def make_runs() -> list[MethodRun]:
    """Three finished methods listed out of rank order and a failed one; mtcnn's rows are
    shuffled, so pairs must be matched by name. 35 pairs are detected by all three."""
    mtcnn = pair_scores(1, 0.35, missed={5, 25, 30}).sample(frac=1.0, random_state=0)
    return [
        finished("center_crop", pair_scores(2, 0.12, missed={7}), images_per_s=90.0, seed=2),
        MethodRun("retinaface", "run-retinaface", "FAILED", {}, None, {}),
        finished("yunet", pair_scores(0, 0.6, missed={3, 25}, exclude=True), images_per_s=40.0, seed=0),
        finished("mtcnn", mtcnn, images_per_s=8.0, seed=1),
    ]


@pytest.fixture
def runs() -> list[MethodRun]:
    return make_runs()


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[MethodRun], Comparison]:
    """One comparison of :func:`make_runs`, shared as drawing it takes a while."""
    runs = make_runs()
    return runs, compare_runs(runs, tmp_path_factory.mktemp("report") / "report")


KEY = ["fold", "image_a", "image_b"]


def test_writes_every_file(report: tuple[list[MethodRun], Comparison]) -> None:
    _, comparison = report
    out_dir = comparison.files[0].parent
    assert {path.name for path in comparison.files} == {
        "comparison.csv",
        "comparison.md",
        "significance.csv",
        "dashboard.png",
        "roc_overlay.png",
        "aligned_faces_by_method.png",
    }
    for path in comparison.files:
        assert path.parent == out_dir and path.is_file()
        if path.suffix == ".png":
            read_png(path)
    csv = pd.read_csv(out_dir / "comparison.csv")
    assert list(csv.columns) == list(COLUMNS)
    assert list(csv["method"]) == list(comparison.table["method"])
    markdown = (out_dir / "comparison.md").read_text()
    assert "**35 pairs** of 40" in markdown
    # The table: a header and a row per method; the tests: a header and a row per two finished methods.
    assert markdown.count("\n| ") == (1 + 4) + (1 + 3)
    # Three rows (the failed method has none) of eight faces (the cap; twelve are shared).
    grid = read_png(out_dir / "aligned_faces_by_method.png")
    assert grid.shape[1] > 2 * grid.shape[0]


def test_table_ranks_finished_by_accuracy_and_lists_failed_last(
    report: tuple[list[MethodRun], Comparison],
) -> None:
    _, comparison = report
    table = comparison.table
    assert list(table.columns) == list(COLUMNS)
    assert list(table["method"]) == ["yunet", "mtcnn", "center_crop", "retinaface"]
    assert list(table["status"]) == ["FINISHED"] * 3 + ["FAILED"]
    assert table["accuracy"].iloc[:3].is_monotonic_decreasing
    assert table["rank"].iloc[:3].tolist() == [1, 2, 3] and pd.isna(table["rank"].iloc[3])
    failed = table.iloc[3]
    assert failed["run_id"] == "run-retinaface"
    assert failed[list(COLUMNS[4:])].isna().all()
    lines = comparison.ranking.splitlines()
    assert "35 pairs" in lines[0]
    assert [line.split()[:2] for line in lines[1:5]] == [
        ["1", "yunet"],
        ["2", "mtcnn"],
        ["3", "center_crop"],
        ["-", "retinaface"],
    ]
    assert "images/s" in lines[1] and "FAILED" in lines[4]
    markdown = (comparison.files[0].parent / "comparison.md").read_text()
    (row,) = [line for line in markdown.splitlines() if line.startswith("| - | retinaface |")]
    assert set(row.strip("| ").split(" | ")[3:]) == {"-"}  # a failed run's figures: missing, one text
    assert all(" group a " in line for line in lines[1:4]) and "group letter" in lines[5]


def test_common_subset_is_the_intersection_of_detected_pairs(
    report: tuple[list[MethodRun], Comparison],
) -> None:
    runs, comparison = report
    detected = [
        set(map(tuple, run.pair_scores.loc[run.pair_scores["both_detected"] == 1, KEY].to_numpy()))
        for run in runs
        if run.pair_scores is not None
    ]
    common = set.intersection(*detected)
    assert len(common) == comparison.common_pairs == FOLDS * PAIRS_PER_FOLD - len({3, 5, 7, 25, 30})
    table = comparison.table.set_index("method")
    assert math.isnan(table.loc["retinaface", "common_accuracy"])
    for run in runs:
        if run.pair_scores is None:
            continue
        frame = run.pair_scores
        on_common = frame[[key in common for key in map(tuple, frame[KEY].to_numpy())]]
        expected = evaluate_verification(on_common["score"], on_common["same"], on_common["fold"])
        assert table.loc[run.label, "common_accuracy"] == pytest.approx(expected.accuracy)
        assert table.loc[run.label, "common_accuracy_std"] == pytest.approx(expected.accuracy_std)


def test_significance_on_the_common_subset(report: tuple[list[MethodRun], Comparison]) -> None:
    """Every two finished methods are tested on the same common pairs, decided as their
    common-subset accuracy decides them; none differs here, so all share group a."""
    runs, comparison = report
    out_dir = comparison.files[0].parent
    tests = pd.read_csv(out_dir / "significance.csv")
    assert list(tests.columns) == [
        *("method_a", "method_b", "accuracy_a", "accuracy_b", "difference", "ci_low", "ci_high"),
        *("n01", "n10", "p_value", "p_holm", "significant"),
    ]
    assert list(zip(tests["method_a"], tests["method_b"], strict=True)) == [
        ("yunet", "mtcnn"),
        ("yunet", "center_crop"),
        ("mtcnn", "center_crop"),
    ]
    table = comparison.table.set_index("method")
    detected = [
        set(map(tuple, run.pair_scores.loc[run.pair_scores["both_detected"] == 1, KEY].to_numpy()))
        for run in runs
        if run.pair_scores is not None
    ]
    common = sorted(set.intersection(*detected))
    decisions = {}
    for run in runs:
        if run.pair_scores is not None:
            pairs = run.pair_scores.set_index(KEY).loc[common].reset_index()
            decisions[run.label] = cross_validated_decisions(pairs["score"], pairs["same"], pairs["fold"])
            assert decisions[run.label].accuracy == pytest.approx(table.loc[run.label, "common_accuracy"])
    for test in tests.itertuples():
        assert test.accuracy_a == pytest.approx(table.loc[test.method_a, "common_accuracy"])
        expected = mcnemar_exact(decisions[test.method_a].correct, decisions[test.method_b].correct)
        assert (test.n01, test.n10) == (expected.n01, expected.n10)
        assert test.p_value == pytest.approx(expected.p_value)
        assert test.ci_low <= test.difference <= test.ci_high
    assert not tests["significant"].any() and (tests["p_holm"] >= tests["p_value"]).all()
    assert table["group"].drop("retinaface").to_dict() == {"yunet": "a", "mtcnn": "a", "center_crop": "a"}
    assert pd.isna(table.loc["retinaface", "group"])
    assert pd.read_csv(out_dir / "comparison.csv")["group"].fillna("").tolist() == ["a", "a", "a", ""]
    markdown = (out_dir / "comparison.md").read_text()
    assert "## Significance on the common subset" in markdown and "McNemar" in markdown
    assert "| yunet | center_crop | " in markdown
    assert "Groups, best first: **a**: yunet, mtcnn, center_crop." in markdown


def test_methods_that_differ_get_different_groups(tmp_path: Path) -> None:
    """Two methods that separate the pairs well and one at chance: the tests tell the third apart."""
    runs = [
        finished(label, pair_scores(seed, separation, missed=set()), images_per_s=10.0, seed=seed)
        for seed, (label, separation) in enumerate((("chance", 0.0), ("sharp", 1.0), ("sharp too", 1.0)))
    ]
    for run in runs:
        run.samples = {}
    comparison = compare_runs(runs, tmp_path)
    assert comparison.table.set_index("method")["group"].to_dict() == {
        "sharp": "a",
        "sharp too": "a",
        "chance": "b",
    }
    tests = pd.read_csv(tmp_path / "significance.csv").set_index(["method_a", "method_b"])
    assert tests["significant"].to_dict() == {
        ("sharp", "sharp too"): False,
        ("sharp", "chance"): True,
        ("sharp too", "chance"): True,
    }
    assert "**a**: sharp, sharp too; **b**: chance." in (tmp_path / "comparison.md").read_text()
    assert "group b" in comparison.ranking.splitlines()[3]


def test_common_subset_without_pairs_or_classes_is_nan(tmp_path: Path) -> None:
    every = set(range(FOLDS * PAIRS_PER_FOLD))
    odd = {number for number in every if number % 2}  # leaves only same pairs detected
    cases = {
        "disjoint": ([pair_scores(0, 0.5, missed=every - {0, 1}), pair_scores(1, 0.5, missed={0, 1})], 0),
        "one class": ([pair_scores(0, 0.5, missed=odd), pair_scores(1, 0.5, missed=set())], 20),
    }
    for name, (frames, common_pairs) in cases.items():
        runs = [finished(f"method {index}", frame, 10.0, seed=index) for index, frame in enumerate(frames)]
        comparison = compare_runs(runs, tmp_path / name)
        assert comparison.common_pairs == common_pairs
        assert comparison.table["common_accuracy"].isna().all()
        assert comparison.table["accuracy"].notna().all()
        assert any("common" in note for note in comparison.notes)
        assert any("significance.csv not written" in note for note in comparison.notes)
        assert comparison.table["group"].isna().all()
        assert not (tmp_path / name / "significance.csv").exists()
        assert "Notes:" in (tmp_path / name / "comparison.md").read_text()


def test_only_failed_runs_still_report(tmp_path: Path) -> None:
    runs = [
        MethodRun(label, f"id-{label}", status, {}, None, {})
        for label, status in (("a", "FAILED"), ("b", "KILLED"))
    ]
    comparison = compare_runs(runs, tmp_path)
    assert list(comparison.table["status"]) == ["FAILED", "KILLED"]
    assert {path.name for path in comparison.files} == {"comparison.csv", "comparison.md", "dashboard.png"}
    read_png(tmp_path / "dashboard.png")
    assert comparison.common_pairs == 0 and comparison.notes
    assert "group letter" not in comparison.ranking


def test_finished_run_without_artifacts_is_left_out_of_the_subset(
    tmp_path: Path, runs: list[MethodRun]
) -> None:
    bare = MethodRun("mediapipe", "run-mp", "FINISHED", runs[0].metrics, None, {})
    comparison = compare_runs([*runs, bare], tmp_path)
    assert comparison.common_pairs == 35
    assert comparison.table["status"].tolist().count("FINISHED") == 4
    assert any(note.startswith("mediapipe") for note in comparison.notes)
    assert (tmp_path / "aligned_faces_by_method.png").is_file()


def test_faces_by_method_uses_images_every_method_has(
    tmp_path: Path, runs: list[MethodRun], report: tuple[list[MethodRun], Comparison]
) -> None:
    runs[0].samples = samples(5, [*IMAGES[:3], "Extra/Extra_0001.jpg"])
    compare_runs(runs, tmp_path / "three")
    narrow = read_png(tmp_path / "three" / "aligned_faces_by_method.png")
    eight = read_png(report[1].files[0].parent / "aligned_faces_by_method.png")
    assert narrow.shape[0] == eight.shape[0] and narrow.shape[1] < eight.shape[1]
    runs[0].samples = samples(5, ["Extra/Extra_0001.jpg"])
    comparison = compare_runs(runs, tmp_path / "none")
    assert not (tmp_path / "none" / "aligned_faces_by_method.png").exists()
    assert any("sample image" in note for note in comparison.notes)


def test_dashboard_with_ten_methods_and_gpu_memory(tmp_path: Path) -> None:
    runs = [
        finished(
            f"detector.name=method_{index} model.name=edgeface_xs_q",
            pair_scores(index, 0.1 + 0.05 * index, missed={index}),
            images_per_s=5.0 * (index + 1),
            seed=index,
            gpu_mb=300.0 * index,
        )
        for index in range(10)
    ]
    for run in runs:
        run.samples = {}  # the grid is checked elsewhere; this keeps the test fast
    comparison = compare_runs(runs, tmp_path)
    dashboard = read_png(tmp_path / "dashboard.png")
    assert dashboard.shape[1] > dashboard.shape[0]
    read_png(tmp_path / "roc_overlay.png")
    assert len(comparison.table) == 10 and comparison.common_pairs == 30
    assert "no finished method has aligned samples: no face grid" in comparison.notes


@pytest.mark.parametrize("gpu_mb", [math.nan, 0.0])
def test_dashboard_without_gpu_memory(
    tmp_path: Path, report: tuple[list[MethodRun], Comparison], gpu_mb: float
) -> None:
    table = report[1].table
    table = table[table["status"] == "FINISHED"].assign(peak_gpu_mb=gpu_mb)
    read_png(plot_dashboard(table, tmp_path / "dashboard.png", title="CPU only"))


def test_finished_run_missing_a_table_metric_is_an_error(tmp_path: Path, runs: list[MethodRun]) -> None:
    """A metric logged under another name must not turn into a blank cell."""
    renamed = runs[2]
    renamed.metrics["throughput"] = renamed.metrics.pop(keys.IMAGES_PER_S)
    del renamed.metrics[keys.ms_per_image("detect")]
    with pytest.raises(MissingMetricsError, match="yunet") as error:
        compare_runs(runs, tmp_path)
    assert "run-yunet" in str(error.value)
    assert f"{keys.ms_per_image('detect')}, {keys.IMAGES_PER_S}" in str(error.value)
    assert "center_crop" not in str(error.value) and "retinaface" not in str(error.value)
    assert not (tmp_path / "comparison.csv").exists()


def test_metric_computed_as_nan_is_a_value(tmp_path: Path, runs: list[MethodRun]) -> None:
    """A run logs no NaN to MLflow; its metrics.json keeps it as null, which the sweep reads back."""
    logged = runs[0].metrics
    computed = logged | {keys.IMAGES_PER_S: math.nan, keys.ACCURACY_DETECTED: math.nan}
    metrics_json = tmp_path / "metrics.json"
    metrics_json.write_text(
        json.dumps(
            {"metrics": {key: None if math.isnan(value) else value for key, value in computed.items()}}
        )
    )
    del logged[keys.IMAGES_PER_S]
    logged |= nan_metrics(metrics_json)
    assert set(logged) == set(computed)
    comparison = compare_runs(runs, tmp_path / "report")
    row = comparison.table.set_index("method").loc[runs[0].label]
    assert math.isnan(row[keys.IMAGES_PER_S]) and row[keys.ACCURACY] == computed[keys.ACCURACY]


def serve_from_cache(run: MethodRun, cached: int) -> None:
    """Make ``run`` a job that took ``cached`` of its 24 images from the cache: its logged speed
    is then far higher than what its method achieves."""
    run.metrics |= {
        keys.NUM_IMAGES_CACHED: float(cached),
        keys.NUM_IMAGES_COMPUTED: float(24 - cached),
        keys.IMAGES_PER_S: 5000.0,
        **{keys.ms_per_image(stage): 0.0 for stage in keys.STAGES},
    }


def test_cached_jobs_show_no_speed_and_their_cached_share(tmp_path: Path, runs: list[MethodRun]) -> None:
    serve_from_cache(runs[2], 24)  # yunet: wholly from the cache
    serve_from_cache(runs[3], 6)  # mtcnn: a quarter from the cache
    comparison = compare_runs(runs, tmp_path)
    table = comparison.table.set_index("method")
    assert table["cached_fraction"].to_dict() == pytest.approx(
        {"yunet": 1.0, "mtcnn": 0.25, "center_crop": 0.0, "retinaface": math.nan}, nan_ok=True
    )
    assert table.loc[["yunet", "mtcnn"], list(SPEED_METRICS)].isna().all(axis=None)
    assert table.loc["center_crop", keys.IMAGES_PER_S] == 90.0  # computed every image: measured
    csv = pd.read_csv(tmp_path / "comparison.csv").set_index("method")
    assert csv.loc[["yunet", "mtcnn"], list(SPEED_METRICS)].isna().all(axis=None)
    markdown = (tmp_path / "comparison.md").read_text()
    header = markdown.split("\n| ")[1].split(" | ")
    yunet = next(line for line in markdown.splitlines() if line.startswith("| ") and "yunet" in line)
    cells = dict(zip(header, yunet.strip("| ").split(" | "), strict=True))
    assert cells["cached %"] == "100.0"
    assert cells["images/s"] == "-" and cells["detect ms/image"] == "-"
    (note,) = [note for note in comparison.notes if "cache" in note]
    assert "yunet (100.0 % of images)" in note and "mtcnn (25.0 % of images)" in note
    assert "center_crop" not in note and "computed every image" in note
    assert f"- {note}" in markdown
    assert "images/s (cached 100.0 %)" in comparison.ranking


def test_speed_panel_leaves_out_cached_jobs(tmp_path: Path, runs: list[MethodRun]) -> None:
    serve_from_cache(runs[2], 24)
    table = compare_runs(runs, tmp_path).table
    assert list(speed_comparable(table)["method"]) == ["mtcnn", "center_crop"]
    serve_from_cache(runs[0], 1)
    serve_from_cache(runs[3], 24)
    table = compare_runs(runs, tmp_path / "all_cached").table
    assert speed_comparable(table).empty  # the panel says so, and the dashboard still draws
    read_png(tmp_path / "all_cached" / "dashboard.png")


def test_cache_counts_are_required(tmp_path: Path, runs: list[MethodRun]) -> None:
    del runs[2].metrics[keys.NUM_IMAGES_CACHED]
    with pytest.raises(MissingMetricsError, match=keys.NUM_IMAGES_CACHED):
        compare_runs(runs, tmp_path)


def test_duplicate_labels_are_refused(tmp_path: Path, runs: list[MethodRun]) -> None:
    with pytest.raises(ValueError, match="unique"):
        compare_runs([runs[0], runs[0]], tmp_path)
    with pytest.raises(ValueError):
        compare_runs([], tmp_path)


def params(detector: str, model: str = "edgeface_xs_gamma_06", **extra: str) -> dict[str, str]:
    options = {"yunet": "0.6", "mtcnn": "[0.6, 0.7, 0.7]"}.get(detector, "0.5")
    return {
        "detector.name": detector,
        "detector.options.score_threshold": options,
        "model.name": model,
        "model.arch": "edgenext_x_small" if "xs" in model else "edgenext_xx_small",
        "dataset.name": "lfw",
        "hardware.batch_size": "32",
        "runtime.detector_weights": f"/weights/{detector}.onnx",
        "tracking.run_name": f"{detector}-{model}",
        "cache.dir": f"/tmp/{detector}",
    } | extra


def sweep_labels(params_per_run: list[dict[str, str]]) -> list[str]:
    """The labels a sweep gives its jobs: the parameters that do not define a method ignored."""
    return varying_labels(params_per_run, INCIDENTAL_PARAMS)


def test_varying_labels_one_key() -> None:
    assert sweep_labels([params("yunet"), params("mtcnn")]) == ["yunet", "mtcnn"]
    assert sweep_labels([params("yunet")]) == ["run"]  # one run: nothing varies
    batches = [params("yunet") | {"hardware.batch_size": size} for size in ("32", "64")]
    assert sweep_labels(batches) == ["hardware.batch_size=32", "hardware.batch_size=64"]


def test_varying_labels_several_keys() -> None:
    sweep = [
        params(detector, model)
        for detector in ("yunet", "mtcnn")
        for model in ("edgeface_xs_q", "edgeface_xxs_q")
    ]
    assert sweep_labels(sweep) == [
        "detector.name=yunet model.name=edgeface_xs_q",
        "detector.name=yunet model.name=edgeface_xxs_q",
        "detector.name=mtcnn model.name=edgeface_xs_q",
        "detector.name=mtcnn model.name=edgeface_xxs_q",
    ]
    assert sweep_labels(list(reversed(sweep))) == list(reversed(sweep_labels(sweep)))


def test_varying_labels_drop_a_key_another_implies() -> None:
    # detector=none brings the aligned data set: dataset.name follows detector.name.
    sweep = [params("yunet"), params("mtcnn"), params("none", **{"dataset.name": "lfw_aligned"})]
    assert sweep_labels(sweep) == ["yunet", "mtcnn", "none"]


def test_varying_labels_ignore_identical_and_missing() -> None:
    assert sweep_labels([params("yunet"), params("yunet")]) == ["run #1", "run #2"]
    # A sweep ignores the job's number; with nothing ignored, it is all that tells two identical jobs apart.
    twins = [params("yunet") | {"hydra.job.num": str(number)} for number in range(2)]
    assert sweep_labels(twins) == ["run #1", "run #2"]
    assert varying_labels(twins) == ["hydra.job.num=0", "hydra.job.num=1"]
    # A job that failed before logging its parameters still gets a label.
    assert sweep_labels([params("yunet"), params("mtcnn"), {}]) == ["yunet", "mtcnn", "?"]
