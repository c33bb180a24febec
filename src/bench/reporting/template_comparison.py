"""A sweep on IJB-B/C compared: the TAR at FAR table, 1:N where measured, and the ROC overlay.

IJB runs have no 10-fold accuracy and their pairs are templates, so the pairs' comparison
(common subset, McNemar groups) does not apply. Methods are ranked by the strict TAR at the
lowest FAR that every finished run could measure (IJB-C's usual 1e-4 on the real data), ties
broken by AUC. Each run's ``template_scores.npz`` (scores and labels) draws its ROC.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import auc, roc_curve

from bench.metrics import keys
from bench.reporting.columns import Column, column_keys, markdown_table, metric_keys
from bench.reporting.comparison import FINISHED, Comparison, MethodRun
from bench.reporting.formatting import MISSING, fixed, integer, percent_with_unit
from bench.reporting.plots import plot_roc_curves
from bench.reporting.safe_csv import write_table

#: The table (``comparison.csv`` in this order; ``comparison.md`` where a column has a header). Its
#: metrics are shown when the runs logged them (1:N only with its files).
TEMPLATE_COLUMNS = (
    Column("rank", "rank", integer, left=True),
    Column("method", "method", left=True),
    Column("status"),
    Column("run_id"),
    *(
        Column(keys.tar_at_far(far), f"TAR @ {keys.format_far(far)}", percent_with_unit, metric=True)
        for far in keys.IJB_FAR_TARGETS
    ),
    Column(keys.AUC, "AUC", partial(fixed, digits=5), metric=True),
    Column(keys.EER, metric=True),
    Column(keys.cmc_at_rank(1), "rank-1", percent_with_unit, metric=True),
    Column(keys.cmc_at_rank(5), metric=True),
    Column(keys.tpir_at_fpir(1e-2), "TPIR @ 1e-2", percent_with_unit, metric=True),
    Column(keys.tpir_at_fpir(1e-1), metric=True),
    Column(keys.SUCCESS_RATE, "detected", percent_with_unit, metric=True),
    Column(keys.NUM_PAIRS_SCORED, metric=True),
    Column(keys.IMAGES_PER_S, metric=True),
    Column(keys.PEAK_RSS_MB, metric=True),
)
TEMPLATE_METRICS = metric_keys(TEMPLATE_COLUMNS)


def compare_template_runs(runs: Sequence[MethodRun], out_dir: Path) -> Comparison:
    """Write ``comparison.csv``, ``comparison.md`` and ``roc_overlay.png`` for IJB runs; a
    run's ``pair_scores`` holds its template pairs' ``score`` and ``same`` columns."""
    out_dir.mkdir(parents=True, exist_ok=True)
    finished = [run for run in runs if run.status == FINISHED]
    ranking_far = _ranking_far(finished)
    rank_key = keys.tar_at_far(ranking_far) if ranking_far is not None else keys.AUC
    rows = [
        {
            "method": run.label,
            "status": run.status,
            "run_id": run.run_id,
            **{key: run.metrics.get(key, math.nan) for key in TEMPLATE_METRICS},
        }
        for run in runs
    ]
    table = pd.DataFrame(rows, columns=list(column_keys(TEMPLATE_COLUMNS)))
    done = table["status"] == FINISHED
    order = table[done].sort_values([rank_key, keys.AUC], ascending=False, kind="stable")
    table = pd.concat([order, table[~done]], ignore_index=True)
    table.loc[table["status"] == FINISHED, "rank"] = range(1, int(done.sum()) + 1)
    files = [out_dir / "comparison.csv", out_dir / "comparison.md"]
    write_table(table, files[0])
    ranked_by = f"TAR at FAR {keys.format_far(ranking_far)}" if ranking_far is not None else "AUC"
    notes = [] if ranking_far is not None else ["no FAR of the table is measurable by every run"]
    files[1].write_text(_markdown(table, ranked_by, notes))
    curves = {run.label: _roc(run.pair_scores) for run in finished if run.pair_scores is not None}
    if curves:
        order_labels = [label for label in table["method"] if label in curves]
        files.append(
            plot_roc_curves(
                {label: curves[label] for label in order_labels},
                out_dir / "roc_overlay.png",
                title="ROC of the template pairs",
            )
        )
    ranking = "\n".join(
        f"{int(row['rank'])}. {row['method']}: {percent_with_unit(row[rank_key])} ({ranked_by})"
        for _, row in table[table["status"] == FINISHED].iterrows()
    )
    return Comparison(table, ranking, files, 0, notes)


def _ranking_far(finished: Sequence[MethodRun]) -> float | None:
    for far in keys.IJB_FAR_TARGETS:
        if finished and all(
            not math.isnan(run.metrics.get(keys.tar_at_far(far), math.nan)) for run in finished
        ):
            return far
    return None


def _roc(pair_scores: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, float]:
    scored = pair_scores[pair_scores["score"].notna()]
    fpr, tpr, _ = roc_curve(scored["same"], scored["score"])
    return fpr, tpr, float(auc(fpr, tpr))


def _markdown(table: pd.DataFrame, ranked_by: str, notes: Sequence[str]) -> str:
    """The table's Markdown; a run that did not finish has its status after its label."""
    finished = table["status"] == FINISHED
    shown = table.assign(
        method=table["method"].where(finished, table["method"] + " (" + table["status"] + ")")
    )
    lines = [
        f"# IJB comparison (ranked by {ranked_by})",
        "",
        *markdown_table(TEMPLATE_COLUMNS, shown.to_dict("records")),
        "",
        f"TAR: strict (the best TAR whose FAR is at most the target); `{MISSING}`: not measurable.",
    ]
    lines += [f"Note: {note}" for note in notes]
    return "\n".join(lines) + "\n"
