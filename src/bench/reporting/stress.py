"""A stress sweep's tables and figures: how each method holds up as its images get worse.

The jobs of a sweep that varies ``stress.*`` are grouped by method (whatever else the sweep
varies) and by condition; a ``stress=none`` job is its method's clean baseline, severity 0 on
every curve. The summary follows OODFace's: a method's mean accuracy over its degraded jobs,
and its relative degradation ``(clean - degraded) / clean``; per condition, the accuracy
averaged over severities and its drop from clean.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure

from bench.metrics import keys, pairwise_significance
from bench.reporting.comparison import common_pairs, keyed_pairs, pair_decisions
from bench.reporting.dashboard import plot_faces_by_method
from bench.reporting.formatting import percent
from bench.reporting.plots import save_figure
from bench.reporting.safe_csv import write_table

#: The condition of a method's clean baseline.
CLEAN = "none"
#: The method's confidence in the faces it found, followed across severities.
_MEDIAN_DETECTOR_SCORE = keys.quality_median("detector_score")


@dataclass(frozen=True)
class StressRun:
    """One finished job of a stress sweep."""

    method: str
    #: The condition (``none`` for the clean baseline), ``(one-sided)`` appended when only the
    #: first image of each pair was degraded.
    condition: str
    severity: int
    metrics: Mapping[str, float]
    #: Image path -> the aligned face the job made of it (its sample grid).
    samples: Mapping[str, np.ndarray]
    #: Its ``pair_scores.csv``, for the tests between methods within a condition and severity.
    pair_scores: pd.DataFrame | None = None


def stress_report(runs: Sequence[StressRun], out_dir: Path) -> list[Path]:
    """Write the stress tables and figures into ``out_dir``; returns the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    results = _results(runs)
    summary = _summary(results)
    groups = _groups_per_cell(runs)
    files = [
        out_dir / "stress_results.csv",
        out_dir / "stress_summary.csv",
        out_dir / "stress_summary.md",
        out_dir / "stress_significance.csv",
    ]
    write_table(results, files[0])
    write_table(summary, files[1])
    files[2].write_text(_markdown(summary) + _groups_markdown(groups))
    write_table(groups, files[3])
    degraded = results[results["condition"] != CLEAN]
    if not degraded.empty:
        files.append(_curves(results, keys.ACCURACY, "accuracy (%)", out_dir / "stress_accuracy.png"))
        files.append(
            _curves(results, keys.SUCCESS_RATE, "detection success (%)", out_dir / "stress_detection.png")
        )
        if degraded["median_detector_score"].notna().any():
            # Does the method's confidence fall before its accuracy does? Beside stress_accuracy.png.
            files.append(
                _curves(
                    results,
                    "median_detector_score",
                    "median score of the faces found",
                    out_dir / "stress_detector_score.png",
                    scale=1.0,
                )
            )
        files.append(_heatmap(summary, out_dir / "stress_heatmap.png"))
        faces = _faces_across_severities(runs, out_dir / "stress_faces.png")
        if faces is not None:
            files.append(faces)
    return files


def _results(runs: Sequence[StressRun]) -> pd.DataFrame:
    rows = [
        {
            "method": run.method,
            "condition": run.condition,
            "severity": run.severity,
            "accuracy": run.metrics.get(keys.ACCURACY, math.nan),
            "accuracy_std": run.metrics.get(keys.ACCURACY_STD, math.nan),
            "success_rate": run.metrics.get(keys.SUCCESS_RATE, math.nan),
            "pair_success_rate": run.metrics.get(keys.PAIR_SUCCESS_RATE, math.nan),
            "median_detector_score": run.metrics.get(_MEDIAN_DETECTOR_SCORE, math.nan),
        }
        for run in runs
    ]
    columns = [
        "method",
        "condition",
        "severity",
        "accuracy",
        "accuracy_std",
        "success_rate",
        "pair_success_rate",
        "median_detector_score",
    ]
    return pd.DataFrame(rows, columns=columns).sort_values(["method", "condition", "severity"], kind="stable")


def _summary(results: pd.DataFrame) -> pd.DataFrame:
    """Per method and condition: accuracy averaged over severities, and its drop from clean; per
    method (condition ``all``): the mean over every degraded job and the relative degradation."""
    clean = results[results["condition"] == CLEAN].groupby("method")["accuracy"].mean()
    degraded = results[results["condition"] != CLEAN]

    def row(method: str, condition: str, jobs: pd.DataFrame) -> dict[str, object]:
        mean, base = jobs["accuracy"].mean(), clean.get(method, math.nan)
        return {
            "method": method,
            "condition": condition,
            "severities": len(jobs),
            "clean_accuracy": base,
            "mean_accuracy": mean,
            "drop": base - mean,
            "relative_degradation": (base - mean) / base if base else math.nan,
            "mean_success_rate": jobs["success_rate"].mean(),
        }

    rows = [
        row(method, condition, jobs)
        for (method, condition), jobs in degraded.groupby(["method", "condition"])
    ]
    rows += [row(method, "all", jobs) for method, jobs in degraded.groupby("method")]
    return pd.DataFrame(
        rows,
        columns=[
            "method",
            "condition",
            "severities",
            "clean_accuracy",
            "mean_accuracy",
            "drop",
            "relative_degradation",
            "mean_success_rate",
        ],
    )


def _groups_per_cell(runs: Sequence[StressRun]) -> pd.DataFrame:
    """Per condition and severity, the methods' accuracies on the pairs every one of them scored
    and their significance groups (``bench.metrics.significance``: exact McNemar, Holm)."""
    cells: dict[tuple[str, int], dict[str, pd.DataFrame]] = {}
    for run in runs:
        if run.pair_scores is not None:
            cells.setdefault((run.condition, run.severity), {})[run.method] = keyed_pairs(run.pair_scores)
    rows = []
    for (condition, severity), frames in sorted(cells.items()):
        if len(frames) < 2:
            continue
        common = common_pairs(frames.values(), detected_only=False)
        decisions = {method: pair_decisions(frame, common) for method, frame in frames.items()}
        significance = pairwise_significance(decisions)
        for method, letters in significance.letters.items():
            rows.append(
                {
                    "condition": condition,
                    "severity": severity,
                    "method": method,
                    "pairs": len(common),
                    "accuracy": decisions[method].accuracy,
                    "group": letters,
                }
            )
    return pd.DataFrame(rows, columns=["condition", "severity", "method", "pairs", "accuracy", "group"])


def _groups_markdown(groups: pd.DataFrame) -> str:
    """Per condition and severity, the methods by accuracy with their group letters: methods
    sharing a letter are not told apart on those pairs."""
    if groups.empty:
        return ""
    lines = [
        "## Which methods differ, per condition and severity",
        "",
        "Methods sharing a letter do not differ significantly on the pairs all of them scored "
        "(exact McNemar on the pair decisions, Holm-adjusted within the cell; stress_significance.csv).",
        "",
        "| condition | severity | pairs | methods, best first (group) | landmark methods told apart |",
        "|---|--:|--:|---|---|",
    ]
    separating = []
    for (condition, severity), cell in groups.groupby(["condition", "severity"], sort=True):
        ranked = ", ".join(f"{row.method} {percent(row.accuracy)} ({row.group})" for row in cell.itertuples())
        apart = _landmark_methods_apart(cell)
        if apart:
            separating.append(f"{condition} {severity}")
        pairs = cell["pairs"].iloc[0]
        lines.append(f"| {condition} | {severity} | {pairs} | {ranked} | {'yes' if apart else 'no'} |")
    lines += [
        "",
        "Cells where two landmark methods (all but `center_crop` and the model-only `none`) share no "
        f"group: {', '.join(separating) if separating else 'none'}.",
    ]
    return "\n".join(lines) + "\n"


#: Rows of a stress sweep that have no landmarks of their own.
_WITHOUT_LANDMARKS = frozenset({"center_crop", "none"})


def _landmark_methods_apart(cell: pd.DataFrame) -> bool:
    """Whether two methods with landmarks are in groups that share no letter."""
    letters = [set(row.group) for row in cell.itertuples() if row.method not in _WITHOUT_LANDMARKS]
    return any(not a & b for index, a in enumerate(letters) for b in letters[index + 1 :])


def _markdown(summary: pd.DataFrame) -> str:
    """Two method x condition tables (mean accuracy over severities; its drop from clean, in
    percentage points), the last column every degraded job of the method."""
    if summary.empty:
        return "# Stress summary\n\nNo degraded job finished.\n"
    conditions = [c for c in sorted(summary["condition"].unique()) if c != "all"] + ["all"]
    methods = sorted(summary["method"].unique())
    cell = {(row.method, row.condition): row for row in summary.itertuples()}
    lines = ["# Stress summary", ""]
    for title, field in (
        ("Accuracy (%), mean over severities", "mean_accuracy"),
        ("Drop from clean (percentage points)", "drop"),
    ):
        lines += [f"## {title}", "", "| method | clean | " + " | ".join(conditions) + " |"]
        lines.append("|---|--:|" + "--:|" * len(conditions))
        for method in methods:
            clean = next(
                (cell[(method, c)].clean_accuracy for c in conditions if (method, c) in cell), math.nan
            )
            values = [
                percent(getattr(cell[(method, c)], field)) if (method, c) in cell else "" for c in conditions
            ]
            lines.append(f"| {method} | {percent(clean)} | " + " | ".join(values) + " |")
        lines.append("")
    lines += [
        "`all`: every degraded job of the method; relative degradation (clean - mean) / clean is in "
        "stress_summary.csv. A missing clean accuracy: the sweep had no `stress=none` job for that method.",
        "",
    ]
    return "\n".join(lines)


def _curves(results: pd.DataFrame, metric: str, ylabel: str, path: Path, scale: float = 100.0) -> Path:
    """One panel per condition: ``metric`` (times ``scale``: percent by default) against
    severity, a line per method (0 = clean)."""
    conditions = sorted(c for c in results["condition"].unique() if c != CLEAN)
    clean = results[results["condition"] == CLEAN].groupby("method")[metric].mean()
    columns = min(3, len(conditions))
    rows = math.ceil(len(conditions) / columns)
    fig = Figure(figsize=(4.2 * columns, 3.2 * rows + 0.6), dpi=110, layout="constrained")
    methods = sorted(results["method"].unique())
    colours = dict(zip(methods, _colours(len(methods)), strict=True))
    for index, condition in enumerate(conditions):
        ax = fig.add_subplot(rows, columns, index + 1)
        jobs = results[results["condition"] == condition]
        for method in methods:
            own = jobs[jobs["method"] == method].sort_values("severity")
            if own.empty:
                continue
            severity, value = own["severity"].tolist(), own[metric].tolist()
            if method in clean.index:
                severity, value = [0, *severity], [clean[method], *value]
            ax.plot(
                severity,
                scale * np.asarray(value),
                marker="o",
                linewidth=1.4,
                markersize=3,
                label=method,
                color=colours[method],
            )
        ax.set_title(condition, fontsize=9)
        ax.set_xlabel("severity (0: clean)", fontsize=8)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.set_xticks(range(0, 6))
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    # A method can be missing from a panel (the model-only row has no geometric conditions).
    legend = {
        label: handle
        for ax in fig.axes
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True)
    }
    fig.legend(
        list(legend.values()), list(legend), loc="outside lower center", ncols=min(5, len(legend)), fontsize=8
    )
    return save_figure(fig, path)


def _colours(count: int) -> list[tuple[float, ...]]:
    """One colour per method, the same in every panel (tab10, then tab20 past ten methods)."""
    return [tuple(colormaps["tab10" if count <= 10 else "tab20"](index)) for index in range(count)]


def _heatmap(summary: pd.DataFrame, path: Path) -> Path:
    """Method x condition: accuracy averaged over severities, its drop from clean in each cell."""
    per_condition = summary[summary["condition"] != "all"]
    grid = per_condition.pivot(index="method", columns="condition", values="mean_accuracy")
    drops = per_condition.pivot(index="method", columns="condition", values="drop")
    fig = Figure(
        figsize=(1.3 + 1.2 * grid.shape[1], 1.2 + 0.5 * grid.shape[0]), dpi=110, layout="constrained"
    )
    ax = fig.add_subplot()
    image = ax.imshow(100 * grid.to_numpy(dtype=float), cmap="viridis", aspect="auto")
    for row in range(grid.shape[0]):
        for column in range(grid.shape[1]):
            value, drop = grid.iat[row, column], drops.iat[row, column]
            if not math.isnan(value):
                text = f"{100 * value:.1f}" + ("" if math.isnan(drop) else f"\n-{100 * drop:.1f}")
                ax.text(column, row, text, ha="center", va="center", fontsize=7, color="white")
    ax.set_xticks(range(grid.shape[1]), list(grid.columns), rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(grid.shape[0]), list(grid.index), fontsize=8)
    ax.set_title("Accuracy (%), mean over severities; below: drop from clean (pp)", fontsize=9)
    fig.colorbar(image, ax=ax, shrink=0.8)
    return save_figure(fig, path)


def _faces_across_severities(runs: Sequence[StressRun], path: Path) -> Path | None:
    """One image aligned by each method (rows) at each condition and severity (columns); the
    image is the first one every job has in its sample grid."""
    common = set.intersection(*(set(run.samples) for run in runs)) if runs else set()
    if not common:
        return None
    image = min(common)
    columns = sorted({(run.condition, run.severity) for run in runs}, key=lambda c: (c[0] != CLEAN, c))
    by_cell = {(run.method, run.condition, run.severity): run.samples[image] for run in runs}
    blank = np.full_like(next(iter(by_cell.values())), 255)
    rows = {
        method: [by_cell.get((method, *column), blank) for column in columns]
        for method in sorted({run.method for run in runs})
    }
    labels = ["clean" if condition == CLEAN else f"{condition} {severity}" for condition, severity in columns]
    return plot_faces_by_method(rows, labels, path)
