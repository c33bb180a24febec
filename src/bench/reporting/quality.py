"""A sweep's quality reports: which signal predicts a recognition error, job by job, and whether
one model's signals predict another model's errors.

Every signal is read as the ratio of its partial area to random discard's (``pauc_20 /
random_pauc_20``): 1 is no better than chance, the ideal ratio (errors discarded first) is the
floor, and the ratio compares jobs whose error rates differ (clean against degraded images).

Across models (``edc_cross_model.csv``): the signals a network gives of a face (its features'
norm, its mirror agreement) are taken from its job's ``quality.csv`` and scored against another
model's pair scores on the same images and faces, so a model need not grade itself. Jobs are
paired when everything but the model is the same (``QualityRun.setting``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure

from bench.metrics import keys
from bench.metrics.edc import PAUC_DISCARD_LIMIT
from bench.quality.evaluation import quality_curves
from bench.quality.signals import SIGNALS, Source
from bench.reporting.plots import save_figure
from bench.reporting.safe_csv import write_table

EDC_BY_JOB_FILE = "edc_by_job.csv"
EDC_BY_JOB_PLOT = "edc_by_job.png"
EDC_CROSS_MODEL_FILE = "edc_cross_model.csv"
EDC_MARKDOWN = "edc_by_job.md"

#: The signals that belong to the model that measured them, and so can grade another model.
MODEL_SIGNALS = tuple(name for name, signal in SIGNALS.items() if signal.source is Source.MODEL)


@dataclass(frozen=True)
class QualityRun:
    """One finished job of a sweep over pairs of images, as its quality reports need it."""

    label: str
    model: str
    #: What but the model tells its images and faces apart from other jobs' (detector, data,
    #: stress, ...); jobs of one setting scored the same faces, so their signals cross.
    setting: str
    metrics: Mapping[str, float]
    #: Its ``pair_scores.csv`` and ``quality.csv``; ``None`` where the job logged none.
    pair_scores: pd.DataFrame | None = None
    quality: pd.DataFrame | None = None


def quality_report(runs: Sequence[QualityRun], out_dir: Path) -> list[Path]:
    """``edc_by_job.csv``/``.md``/``.png`` when some job measured an EDC, and
    ``edc_cross_model.csv`` when two models scored the same setting; the files written."""
    by_job = edc_by_job(runs)
    if by_job.empty:
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    files = [write_table(by_job, out_dir / EDC_BY_JOB_FILE), _plot_by_job(by_job, out_dir / EDC_BY_JOB_PLOT)]
    crossed = cross_model_edc(runs)
    markdown = _by_job_markdown(by_job)
    if not crossed.empty:
        files.append(write_table(crossed, out_dir / EDC_CROSS_MODEL_FILE))
        markdown += _cross_model_markdown(crossed)
    (out_dir / EDC_MARKDOWN).write_text(markdown)
    files.append(out_dir / EDC_MARKDOWN)
    return files


def edc_by_job(runs: Sequence[QualityRun]) -> pd.DataFrame:
    """One row per job that measured an EDC: its FNMR at the fixed threshold, the ideal ratio,
    and each signal's ratio to random discard (NaN where the job has no such signal)."""
    rows = []
    for run in runs:
        random = run.metrics.get(keys.EDC_RANDOM_PAUC, math.nan)
        if not random > 0:  # no curve, or no false non-match at all: nothing to discard
            continue
        row: dict[str, object] = {
            "job": run.label,
            "fmr": run.metrics.get(keys.EDC_FMR, math.nan),
            "fnmr": random / PAUC_DISCARD_LIMIT,
            "ideal": run.metrics.get(keys.EDC_IDEAL_PAUC, math.nan) / random,
        }
        row |= {name: run.metrics.get(keys.edc_pauc(name), math.nan) / random for name in SIGNALS}
        rows.append(row)
    return pd.DataFrame(rows, columns=["job", "fmr", "fnmr", "ideal", *SIGNALS])


def cross_model_edc(runs: Sequence[QualityRun]) -> pd.DataFrame:
    """For every two jobs of one setting and different models, the grader's model signals
    scored against the graded job's pairs; each model's own signals beside them (``grader ==
    graded``), the reference a crossed signal is read against. A job without a false non-match
    has no errors to discard and is graded by none. Jobs are named by their model where that
    tells them apart within the setting, else by their label."""
    rows = []
    by_setting: dict[str, list[QualityRun]] = {}
    for run in runs:
        if run.pair_scores is not None and run.quality is not None:
            by_setting.setdefault(run.setting, []).append(run)
    for setting, jobs in by_setting.items():
        models = [job.model for job in jobs]
        if len(set(models)) < 2:
            continue
        names = models if len(set(models)) == len(jobs) else [job.label for job in jobs]
        for graded, graded_name in zip(jobs, names, strict=True):
            for grader, grader_name in zip(jobs, names, strict=True):
                rows += [
                    {"setting": setting, "graded": graded_name, "grader": grader_name, **curve}
                    for curve in _crossed_curves(graded, grader)
                ]
    return pd.DataFrame(
        rows, columns=["setting", "graded", "grader", "signal", "pauc_20", "random_pauc_20", "ratio"]
    )


def _crossed_curves(graded: QualityRun, grader: QualityRun) -> list[dict[str, object]]:
    """The grader's model signals' curves on the graded job's pairs, as table cells."""
    assert graded.pair_scores is not None and grader.quality is not None
    pairs = graded.pair_scores
    by_image = _one_row_per_image(grader.quality)
    images = pd.Index(pd.unique(pd.concat([pairs["image_a"], pairs["image_b"]])))
    if by_image is None or not images.isin(by_image.index).all():
        return []  # not the same images (or one image in two states): no signal to cross
    signals = {
        name: by_image.loc[images, name].to_numpy(dtype=np.float64)
        for name in MODEL_SIGNALS
        if name in by_image.columns
    }
    curves = quality_curves(
        signals,
        pairs["score"].to_numpy(dtype=np.float64),
        pairs["same"].to_numpy(),
        images.get_indexer(pairs["image_a"]),
        images.get_indexer(pairs["image_b"]),
        graded.metrics.get(keys.EDC_FMR, math.nan),
    )
    return [
        {
            "signal": curve.signal,
            "pauc_20": curve.pauc_20,
            "random_pauc_20": curve.random_pauc_20,
            "ratio": curve.pauc_20 / curve.random_pauc_20,
        }
        for curve in curves
        if curve.random_pauc_20 > 0
    ]


def _one_row_per_image(quality: pd.DataFrame) -> pd.DataFrame | None:
    """``quality.csv`` indexed by image; ``None`` when an image has two rows (degraded on one
    side of a pair, clean on the other), which pair scores cannot tell apart."""
    if quality["image"].duplicated().any():
        return None
    return quality.set_index("image")


def _by_job_markdown(by_job: pd.DataFrame) -> str:
    signals = [name for name in SIGNALS if by_job[name].notna().any()]
    lines = [
        "# Which quality signal predicts a recognition error",
        "",
        "Each signal's partial area under its error-versus-discard curve up to "
        f"{PAUC_DISCARD_LIMIT:.0%} discard, as a ratio to random discard's: 1 is chance, lower is "
        "better, `ideal` discards the errors first. The best signal of each job is in bold; an "
        "empty cell is a signal the job's method cannot give.",
        "",
        "| job | FNMR | ideal | " + " | ".join(signals) + " |",
        "|---|--:|--:|" + "--:|" * len(signals),
    ]
    for row in by_job.itertuples(index=False):
        values = {name: getattr(row, name) for name in signals}
        best = min((value for value in values.values() if not math.isnan(value)), default=math.nan)
        cells = [_ratio(value, bold=value == best) for value in values.values()]
        lines.append(f"| {row.job} | {row.fnmr:.2%} | {row.ideal:.3f} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _cross_model_markdown(crossed: pd.DataFrame) -> str:
    lines = [
        "",
        "## One model's signals against another model's errors",
        "",
        "Rows: the model whose errors are discarded; columns: the model that measured the signal "
        "(the diagonal is a model grading itself).",
    ]
    several = crossed["setting"].nunique() > 1
    for (setting, signal), cell in crossed.groupby(["setting", "signal"], sort=False):
        grid = cell.pivot(index="graded", columns="grader", values="ratio")
        lines += ["", f"### {signal}" + (f" ({setting})" if several else ""), ""]
        lines.append("| errors of \\ signal of | " + " | ".join(grid.columns) + " |")
        lines.append("|---|" + "--:|" * len(grid.columns))
        for graded, values in grid.iterrows():
            lines.append(f"| {graded} | " + " | ".join(_ratio(value) for value in values) + " |")
    return "\n".join(lines) + "\n"


def _ratio(value: float, bold: bool = False) -> str:
    if math.isnan(value):
        return ""
    return f"**{value:.3f}**" if bold else f"{value:.3f}"


def _plot_by_job(by_job: pd.DataFrame, path: Path) -> Path:
    """Job x signal: each signal's ratio to random discard, green below 1 (better than chance),
    red above; the ideal in the first column. A grid, not bars: a stress sweep has dozens of jobs."""
    signals = [name for name in SIGNALS if by_job[name].notna().any()]
    columns = ["ideal", *signals]
    grid = by_job[columns].to_numpy(dtype=np.float64)
    fig = Figure(figsize=(2.5 + 1.0 * len(columns), 1.4 + 0.32 * len(by_job)), dpi=110, layout="constrained")
    ax = fig.add_subplot()
    finite = grid[np.isfinite(grid)]
    norm = TwoSlopeNorm(vcenter=1.0, vmin=min(0.5, finite.min()), vmax=max(1.2, finite.max()))
    image = ax.imshow(grid, cmap="RdYlGn_r", norm=norm, aspect="auto")
    for row, column in np.ndindex(grid.shape):
        if np.isfinite(grid[row, column]):
            ax.text(column, row, f"{grid[row, column]:.2f}", ha="center", va="center", fontsize=7)
    ax.set_xticks(range(len(columns)), columns, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(by_job)), list(by_job["job"]), fontsize=7)
    ax.set_title(
        f"pAUC up to {PAUC_DISCARD_LIMIT:.0%} discard / random discard's (lower is better; blank: absent)",
        fontsize=9,
    )
    fig.colorbar(image, ax=ax, shrink=0.8)
    return save_figure(fig, path)
