"""A detector x model sweep as a matrix: does the best detector depend on the model behind it?

A sweep's comparison ranks every job in one list, which mixes two questions: which model is
better, and which detector serves a given model best. Here each (detector, model) job is a cell;
detectors are tested against each other within each model only (exact McNemar on the pairs every
detector of that model scored, Holm-adjusted within the model, as the comparison's groups are),
and Kendall's tau-b between two models' accuracies over the detectors both ran says whether the
models rank the detectors alike. A sweep that also varies ``model.template`` gets the template
mismatch table: each model's accuracy per alignment template and its drop from its native one.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure
from scipy.stats import kendalltau

from bench.metrics import Significance, keys, pairwise_significance
from bench.models.registry import NATIVE
from bench.reporting.columns import Column, column_keys, markdown_table
from bench.reporting.comparison import FINISHED, MethodRun, common_pairs, keyed_pairs, pair_decisions
from bench.reporting.formatting import MISSING, fixed, integer, p_value, percent
from bench.reporting.plots import save_figure
from bench.reporting.safe_csv import write_table

log = logging.getLogger(__name__)

#: ``matrix.csv``, one row per (detector, model); metrics in their units (fractions), as logged.
MATRIX_COLUMNS = (
    Column("detector", "detector", left=True),
    Column("model", "model", left=True),
    Column("template", "template", left=True),
    Column("status", "status", left=True),
    Column("run_id"),
    Column(keys.ACCURACY, "accuracy %", percent, spread=keys.ACCURACY_STD),
    Column(keys.ACCURACY_STD),
    Column(keys.AUC, "AUC", partial(fixed, digits=5)),
    Column(keys.SUCCESS_RATE, "success %", percent),
    Column(keys.PAIR_SUCCESS_RATE, "pair success %", percent),
    #: The pairs every detector of the model scored, the accuracy there, and the group letters.
    Column("model_common_pairs", "model's common pairs", integer),
    Column("model_common_accuracy", "on them %", percent),
    Column("group", "group in model", left=True),
)
#: The metrics a cell copies from its run.
CELL_METRICS = (keys.ACCURACY, keys.ACCURACY_STD, keys.AUC, keys.SUCCESS_RATE, keys.PAIR_SUCCESS_RATE)
#: ``matrix_tau.csv``: two models' detector orders compared.
TAU_COLUMNS = (
    Column("model_a", "model A", left=True),
    Column("model_b", "model B", left=True),
    Column("detectors", "detectors", integer),
    Column("tau", "tau-b", partial(fixed, digits=3)),
    Column("p_value", "p", p_value),
)


@dataclass(frozen=True)
class MatrixRun:
    """One job of a detector x model sweep: what it ran, and its run as the comparison read it."""

    detector: str
    model: str
    #: ``model.template`` as the run logged it: ``native`` (the model's own) or a template's name.
    template: str
    run: MethodRun


@dataclass(frozen=True)
class _ModelGroups:
    """The detectors of one model tested against each other on the pairs all of them scored."""

    pairs: int
    accuracy: Mapping[str, float]
    significance: Significance


def matrix_report(runs: Sequence[MatrixRun], out_dir: Path) -> list[Path]:
    """Write the matrix (``matrix.csv``, ``matrix_heatmap.png``, ``matrix_tau.csv``,
    ``matrix_significance.csv`` where a model has detectors to test, ``matrix.md``) when the
    finished runs cover at least 2 detectors and 2 models, and the template mismatch
    (``template_mismatch.csv``, a section of ``matrix.md`` or ``template_mismatch.md``) when a
    model ran at least 2 templates; returns the files written, none when neither applies.

    A cell is one job, so two finished jobs of the same detector, model and template (a sweep
    that varies something else too) leave nothing to put in it: the report is skipped with a
    warning rather than one of them picked."""
    finished = [run for run in runs if run.run.finished]
    doubled = sorted(
        cell
        for cell, count in Counter((r.detector, r.model, r.template) for r in finished).items()
        if count > 1
    )
    if doubled:
        log.warning(
            "Sweep: several finished jobs ran the same detector, model and template %s (the sweep varies "
            "something else too): no detector x model matrix",
            ", ".join("/".join(cell) for cell in doubled),
        )
        return []
    matrix = len({r.detector for r in finished}) >= 2 and len({r.model for r in finished}) >= 2
    mismatch = _template_mismatch(finished)
    if not matrix and mismatch.empty:
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    mismatch_lines: list[str] = []
    if not mismatch.empty:
        files.append(out_dir / "template_mismatch.csv")
        write_table(mismatch, files[-1])
        mismatch_lines = _mismatch_markdown(mismatch, level="#" if not matrix else "##")
    if not matrix:
        files.append(out_dir / "template_mismatch.md")
        files[-1].write_text("\n".join(mismatch_lines) + "\n")
        return files

    notes: list[str] = []
    cells = _cells(runs, notes)
    groups = {model: _groups(model, own, notes) for model, own in _by_model(cells).items()}
    table = _table(cells, groups)
    taus = _taus(table)
    significance = pd.DataFrame(
        [
            {"model": model, **asdict(test)}
            for model, found in groups.items()
            if found
            for test in found.significance.tests
        ]
    )
    files += [out_dir / "matrix.csv", out_dir / "matrix_tau.csv"]
    write_table(table, files[-2])
    write_table(taus, files[-1])
    if significance.empty:
        notes.append("no model has 2 detectors to test: matrix_significance.csv not written")
    else:
        files.append(out_dir / "matrix_significance.csv")
        write_table(significance, files[-1])
    files.append(_heatmap(table, out_dir / "matrix_heatmap.png"))
    files.append(out_dir / "matrix.md")
    files[-1].write_text(_markdown(table, taus, mismatch_lines, notes))
    return files


def _cells(runs: Sequence[MatrixRun], notes: list[str]) -> dict[tuple[str, str], MatrixRun]:
    """Per (detector, model), its finished job on the model's matrix template (``native`` if any
    job ran it), else the job that did not finish; a pair never run has no cell."""
    templates: dict[str, set[str]] = {}
    for run in runs:
        if run.run.finished:
            templates.setdefault(run.model, set()).add(run.template)
    chosen = {model: NATIVE if NATIVE in found else min(found) for model, found in templates.items()}
    for model, found in templates.items():
        if len(found) > 1 or chosen[model] != NATIVE:
            notes.append(f"{model}: its cells are its jobs with model.template={chosen[model]}")
    cells: dict[tuple[str, str], MatrixRun] = {}
    for run in runs:
        key = (run.detector, run.model)
        on_template = run.run.finished and run.template == chosen[run.model]
        if on_template or (not run.run.finished and key not in cells):
            cells[key] = run
    return cells


def _by_model(cells: Mapping[tuple[str, str], MatrixRun]) -> dict[str, dict[str, MatrixRun]]:
    """Each model's finished cells by detector, models in the order the sweep ran them."""
    models: dict[str, dict[str, MatrixRun]] = {}
    for (detector, model), cell in cells.items():
        own = models.setdefault(model, {})
        if cell.run.finished:
            own[detector] = cell
    return models


def _groups(model: str, cells: Mapping[str, MatrixRun], notes: list[str]) -> _ModelGroups | None:
    """The model's detectors tested on the pairs every one of them scored (a finite score,
    fallback crops included, as each cell's accuracy is); None, with a note, where there are
    not two detectors to test or the pairs lack a class."""
    frames = {
        detector: keyed_pairs(cell.run.pair_scores)
        for detector, cell in cells.items()
        if cell.run.pair_scores is not None
    }
    if len(frames) < 2:
        notes.append(f"{model}: {len(frames)} detector(s) with pair scores, 2 are needed: no groups")
        return None
    common = common_pairs(frames.values(), detected_only=False)
    labels = next(iter(frames.values())).loc[common, "same"].to_numpy(dtype=np.int64)
    if np.bincount(labels, minlength=2).min() < 2:
        notes.append(
            f"{model}: the {len(common)} pairs every detector scored need 2 pairs of each class: no groups"
        )
        return None
    decisions = {detector: pair_decisions(frame, common) for detector, frame in frames.items()}
    accuracy = {detector: found.accuracy for detector, found in decisions.items()}
    return _ModelGroups(len(common), accuracy, pairwise_significance(decisions))


def _table(
    cells: Mapping[tuple[str, str], MatrixRun], groups: Mapping[str, _ModelGroups | None]
) -> pd.DataFrame:
    """One row per cell, detectors best first (mean accuracy over the models they finished),
    models in sweep order."""
    rows = []
    for (detector, model), cell in cells.items():
        found = groups.get(model)
        row: dict[str, object] = {
            "detector": detector,
            "model": model,
            "template": cell.template,
            "status": cell.run.status,
            "run_id": cell.run.run_id,
        }
        row |= {
            key: float(cell.run.metrics.get(key, math.nan)) if cell.run.finished else math.nan
            for key in CELL_METRICS
        }
        tested = found is not None and detector in found.accuracy
        row["model_common_pairs"] = found.pairs if tested else pd.NA
        row["model_common_accuracy"] = found.accuracy[detector] if tested else math.nan
        row["group"] = found.significance.letters[detector] if tested else math.nan
        rows.append(row)
    table = pd.DataFrame(rows, columns=list(column_keys(MATRIX_COLUMNS)))
    table["model_common_pairs"] = table["model_common_pairs"].astype("Int64")
    models = list(dict.fromkeys(table["model"]))
    mean = table.groupby("detector", sort=False)[keys.ACCURACY].mean()
    detectors = list(mean.sort_values(ascending=False, na_position="last", kind="stable").index)
    order = table["detector"].map(detectors.index) * len(models) + table["model"].map(models.index)
    return table.iloc[np.argsort(order.to_numpy(), kind="stable")].reset_index(drop=True)


def _grid(table: pd.DataFrame, field: str) -> pd.DataFrame:
    """Detectors (rows) x models (columns) of one field, in the table's orders."""
    grid = table.pivot(index="detector", columns="model", values=field)
    return grid.loc[list(dict.fromkeys(table["detector"])), list(dict.fromkeys(table["model"]))]


def _taus(table: pd.DataFrame) -> pd.DataFrame:
    """Kendall's tau-b (scipy's, ties counted) between every two models' accuracies over the
    detectors both finished; NaN below 2 detectors or where a model ties them all."""
    grid = _grid(table, keys.ACCURACY).astype(float)
    rows = []
    models = list(grid.columns)
    for index, model_a in enumerate(models):
        for model_b in models[index + 1 :]:
            both = grid[[model_a, model_b]].dropna()
            tau, p = (math.nan, math.nan)
            if len(both) >= 2:
                found = kendalltau(both[model_a], both[model_b], variant="b")
                tau, p = float(found.statistic), float(found.pvalue)
            rows.append(
                {"model_a": model_a, "model_b": model_b, "detectors": len(both), "tau": tau, "p_value": p}
            )
    return pd.DataFrame(rows, columns=list(column_keys(TAU_COLUMNS)))


def _heatmap(table: pd.DataFrame, path: Path) -> Path:
    """Detectors x models, the accuracy and the detector's group within its model in each cell.

    Colour runs from the worst to the best detector within each model (column), not on one
    shared scale: models differ by more than detectors do, so a shared scale would paint each
    column nearly one colour and hide the ranking the groups and tau are about; the numbers in
    the cells still compare models."""
    grid = _grid(table, keys.ACCURACY).astype(float)
    letters = _grid(table, "group")
    values = grid.to_numpy()
    low, high = np.nanmin(values, axis=0, initial=np.inf), np.nanmax(values, axis=0, initial=-np.inf)
    with np.errstate(invalid="ignore", divide="ignore"):
        scaled = np.where(high > low, (values - low) / (high - low), 0.5)
    colours = colormaps["viridis"].with_extremes(bad="lightgrey")
    fig = Figure(
        figsize=(2.2 + 1.5 * grid.shape[1], 1.4 + 0.55 * grid.shape[0]), dpi=110, layout="constrained"
    )
    ax = fig.add_subplot()
    ax.imshow(np.ma.masked_invalid(scaled), cmap=colours, vmin=0.0, vmax=1.0, aspect="auto")
    for row in range(grid.shape[0]):
        for column in range(grid.shape[1]):
            value, group = values[row, column], letters.iat[row, column]
            text = MISSING if math.isnan(value) else f"{100 * value:.2f}"
            text += "" if pd.isna(group) else f"\n{group}"
            colour = "black" if math.isnan(value) or scaled[row, column] > 0.6 else "white"
            ax.text(column, row, text, ha="center", va="center", fontsize=8, color=colour)
    ax.set_xticks(range(grid.shape[1]), list(grid.columns), rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(grid.shape[0]), list(grid.index), fontsize=8)
    ax.set_xlabel("model", fontsize=8)
    ax.set_ylabel("detector", fontsize=8)
    ax.set_title(
        "Accuracy (%) and group within the model;\ncolour: worst to best detector within each model",
        fontsize=9,
    )
    return save_figure(fig, path)


def _markdown(table: pd.DataFrame, taus: pd.DataFrame, mismatch: Sequence[str], notes: list[str]) -> str:
    grid = _grid(table, keys.ACCURACY)
    letters = _grid(table, "group")
    rows = [
        {"detector": detector}
        | {
            model: percent(grid.at[detector, model])
            + ("" if pd.isna(letters.at[detector, model]) else f" ({letters.at[detector, model]})")
            for model in grid.columns
        }
        for detector in grid.index
    ]
    columns = (Column("detector", "detector", left=True), *(Column(model, model) for model in grid.columns))
    notes = notes + _coverage_notes(table)
    lines = [
        f"# Detector x model matrix: {grid.shape[0]} detectors, {grid.shape[1]} models",
        "",
        "Accuracy (%) per detector (rows) and model (columns), and in brackets the detector's group "
        "within its model: detectors of one model that share a letter do not differ significantly (exact "
        "McNemar on the pairs every finished detector of that model scored, Holm-adjusted within the "
        "model; matrix_significance.csv). Letters of two models are unrelated. Detectors best first "
        "by their mean accuracy over the models; `-`: no finished job.",
        "",
        *markdown_table(columns, rows),
        "",
        "Accuracy: cross-validated over the data set's folds, on every pair the run scored (fallback crops "
        "included). matrix.csv adds each cell's std over folds, AUC, detection success and its accuracy on "
        "the model's common pairs.",
        "",
        "## Do the models rank the detectors alike?",
        "",
        "Kendall's tau-b between two models' accuracies over the detectors both finished: 1, the same "
        "order; -1, reversed; p tests tau = 0 (few detectors can reach no small p).",
        "",
        *markdown_table(TAU_COLUMNS, taus.to_dict("records")),
    ]
    lines += ["", *mismatch] if mismatch else []
    lines += ["", "Notes:", "", *(f"- {note}" for note in notes)] if notes else []
    return "\n".join(lines) + "\n"


def _coverage_notes(table: pd.DataFrame) -> list[str]:
    """A model that finished fewer detectors than the matrix has: its groups and taus use the rest."""
    detectors = list(dict.fromkeys(table["detector"]))
    notes = []
    for model, own in table.groupby("model", sort=False):
        done = set(own.loc[own["status"] == FINISHED, "detector"])
        statuses = dict(zip(own["detector"], own["status"], strict=True))
        missing = [f"{name} ({statuses.get(name, 'not run')})" for name in detectors if name not in done]
        if missing:
            notes.append(
                f"{model}: {len(done)} of {len(detectors)} detectors finished, missing {', '.join(missing)}; "
                "its groups and taus use the others"
            )
    return notes


def _template_mismatch(finished: Sequence[MatrixRun]) -> pd.DataFrame:
    """Per detector where some model ran at least 2 templates: one row per model, its accuracy
    per template (``accuracy_<template>``) and the drop from its native template's
    (``drop_<template>``: native - template, fractions; NaN without a native job)."""
    by_detector: dict[str, dict[str, dict[str, float]]] = {}
    for run in finished:
        accuracy = float(run.run.metrics.get(keys.ACCURACY, math.nan))
        by_detector.setdefault(run.detector, {}).setdefault(run.model, {})[run.template] = accuracy
    rows = []
    for detector, models in by_detector.items():
        if all(len(templates) < 2 for templates in models.values()):
            continue
        for model, templates in models.items():
            native = templates.get(NATIVE, math.nan)
            row: dict[str, object] = {"detector": detector, "model": model}
            for template in _template_order(templates):
                row[f"accuracy_{template}"] = templates[template]
                if template != NATIVE:
                    row[f"drop_{template}"] = native - templates[template]
            rows.append(row)
    if not rows:
        return pd.DataFrame()
    templates = _template_order(
        {key.removeprefix("accuracy_") for row in rows for key in row if key.startswith("accuracy_")}
    )
    columns = ["detector", "model"]
    columns += [f"accuracy_{template}" for template in templates]
    columns += [f"drop_{template}" for template in templates if template != NATIVE]
    return pd.DataFrame(rows, columns=columns)


def _template_order(templates: Iterable[str]) -> list[str]:
    return sorted(templates, key=lambda template: (template != NATIVE, template))


def _mismatch_markdown(mismatch: pd.DataFrame, level: str) -> list[str]:
    """Per detector, models (rows) x templates (columns): accuracy %, and beside a template's
    the drop from the model's native template in percentage points; ``level``: the heading's
    ``#``s (its own file's title, or a section of ``matrix.md``)."""
    templates = [column.removeprefix("accuracy_") for column in mismatch if column.startswith("accuracy_")]
    lines = [
        f"{level} Template mismatch",
        "",
        "Each model's accuracy (%) with its faces aligned to each template (`model.template`), and in "
        "brackets the drop from its native template (`native`: the one the model was trained on), in "
        "percentage points; template_mismatch.csv has them as fractions.",
    ]
    notes = []
    for detector, own in mismatch.groupby("detector", sort=False):
        shown = [t for t in templates if own[f"accuracy_{t}"].notna().any()]
        columns = (Column("model", "model", left=True), *(Column(t, t) for t in shown))
        rows = []
        for row in own.to_dict("records"):
            cells: dict[str, str] = {"model": str(row["model"])}
            for template in shown:
                accuracy, drop = row[f"accuracy_{template}"], row.get(f"drop_{template}", math.nan)
                cells[template] = percent(accuracy)
                if template != NATIVE and not pd.isna(accuracy) and not pd.isna(drop):
                    cells[template] += f" (drop {percent(drop)})"
            rows.append(cells)
            if pd.isna(row.get(f"accuracy_{NATIVE}", math.nan)):
                notes.append(f"{detector}, {row['model']}: no job on the native template, no drop")
        lines += ["", f"{level}# {detector}", "", *markdown_table(columns, rows)]
    lines += ["", *(f"- {note}" for note in notes)] if notes else []
    return lines
