"""The error-versus-discard files: ``edc.csv`` (one row per quality signal) and ``edc.png``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from bench.metrics.edc import PAUC_DISCARD_LIMIT, EdcResult, ideal_fnmr
from bench.reporting.plots import save_figure
from bench.reporting.safe_csv import write_rows

EDC_TABLE_FILE = "edc.csv"
EDC_PLOT_FILE = "edc.png"
EDC_COLUMNS = ("signal", "pauc_20", "random_pauc_20", "ideal_pauc_20", "fmr", "threshold")
#: The plot shows the pAUC range and a margin past it: further discarding is no operating point.
PLOT_MAX_DISCARD = 1.5 * PAUC_DISCARD_LIMIT


def edc_report(results: Sequence[EdcResult], out_dir: Path) -> list[Path]:
    """``edc.csv`` and ``edc.png`` for ``results`` in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    return [write_edc_table(results, out_dir / EDC_TABLE_FILE), plot_edc(results, out_dir / EDC_PLOT_FILE)]


def write_edc_table(results: Sequence[EdcResult], path: Path) -> Path:
    """One row per signal, in ``results``' order, with the columns ``EDC_COLUMNS``."""
    rows = (
        [result.signal, *(float(getattr(result, column)) for column in EDC_COLUMNS[1:])] for result in results
    )
    return write_rows(path, EDC_COLUMNS, rows)


def plot_edc(results: Sequence[EdcResult], path: str | Path, title: str | None = None) -> Path:
    """FNMR against the discarded fraction for every signal on one axes, beside the ideal
    (errors discarded first) and random (flat) references, each legend entry with its pAUC.

    Curves are drawn as the steps the pAUC integrates. Results of different scores (another
    initial FNMR) each get their own references, named by that FNMR.
    """
    if not results:
        raise ValueError("no EDC curves to plot")
    fig = Figure(figsize=(6, 5), dpi=120, layout="constrained")
    ax = fig.add_subplot()
    for result in results:
        ax.plot(
            result.discard_fractions,
            result.fnmr,
            drawstyle="steps-post",
            linewidth=1.5,
            label=f"{result.signal} (pAUC = {result.pauc_20:.4f})",
        )

    # The references depend on the initial FNMR alone: one pair of them per distinct value.
    references = {result.initial_fnmr: result for result in results}
    for initial, reference in sorted(references.items()):
        suffix = "" if len(references) == 1 else f", FNMR {initial:.4f}"
        # The ideal curve bends at d = FNMR: a grid point there keeps the corner sharp.
        discard = np.union1d(np.linspace(0, PLOT_MAX_DISCARD, 301), [min(initial, PLOT_MAX_DISCARD)])
        ax.plot(
            discard,
            ideal_fnmr(initial, discard),
            color="grey",
            linestyle="--",
            linewidth=1,
            label=f"ideal{suffix} (pAUC = {reference.ideal_pauc_20:.4f})",
        )
        ax.plot(
            [0, PLOT_MAX_DISCARD],
            [initial, initial],
            color="black",
            linestyle=":",
            linewidth=1,
            label=f"random{suffix} (pAUC = {reference.random_pauc_20:.4f})",
        )

    ax.axvline(
        PAUC_DISCARD_LIMIT,
        color="black",
        linewidth=0.6,
        alpha=0.5,
        label=f"pAUC limit ({PAUC_DISCARD_LIMIT:g})",
    )
    ax.set_xlim(0, PLOT_MAX_DISCARD)
    # A signal worse than random rises above its initial FNMR: the top is the highest visible point.
    visible = [result.fnmr[result.discard_fractions <= PLOT_MAX_DISCARD].max() for result in results]
    ax.set_ylim(0, 1.05 * max(*visible, 1e-3))
    ax.set_xlabel("fraction of genuine comparisons discarded (lowest quality first)")
    ax.set_ylabel("FNMR of the comparisons kept")
    if title is None:
        fmrs = {result.fmr for result in results}
        title = f"Error versus discard at FMR {fmrs.pop():g}" if len(fmrs) == 1 else "Error versus discard"
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower left")  # every curve starts at the top left and falls
    return save_figure(fig, path)
