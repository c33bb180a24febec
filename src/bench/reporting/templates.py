"""IJB-B/C's tables: TAR at FAR (1:1) and CMC / TPIR at FPIR (1:N), as files and Markdown."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.metrics import keys
from bench.metrics.templates import TemplateEvaluation
from bench.reporting.formatting import MISSING, fixed, percent, percent_with_unit
from bench.reporting.safe_csv import write_rows
from bench.tracking import run_keys


def verification_markdown(evaluation: TemplateEvaluation) -> list[str]:
    """The 1:1 table: TAR (%) at each FAR, strict and as insightface reports it."""
    table = evaluation.table
    fars = list(table.tar)
    lines = [
        "| TAR (%) at FAR | " + " | ".join(keys.format_far(far) for far in fars) + " |",
        "|---|" + "--:|" * len(fars),
        "| strict (FAR <= target) | " + " | ".join(percent(table.tar[far]) for far in fars) + " |",
        "| insightface (nearest ROC point) | "
        + " | ".join(percent(table.tar_insightface[far]) for far in fars)
        + " |",
    ]
    lines.append(
        f"\n{table.num_positive} genuine and {table.num_negative} impostor template pairs scored, "
        f"{table.num_unscored} unscored; AUC {fixed(table.auc, 5)}. `{MISSING}`: a FAR below 1 / impostor "
        "pairs cannot be measured."
    )
    return lines


def identification_markdown(evaluation: TemplateEvaluation) -> list[str]:
    """The 1:N table: CMC (%) at each rank and TPIR (%) at each FPIR, per gallery and overall."""
    results = evaluation.identification
    if results is None:
        return []
    first = next(iter(results.galleries.values()))
    ranks, fpirs = list(first.hits), list(first.tpir)
    header = [f"rank {rank}" for rank in ranks] + [f"TPIR @ FPIR {keys.format_far(f)}" for f in fpirs]
    lines = ["| gallery | " + " | ".join(header) + " |", "|---|" + "--:|" * len(header)]
    rows = [(name, result.cmc, result.tpir) for name, result in results.galleries.items()]
    rows.append(("all (CMC pooled, TPIR mean)", results.cmc, results.tpir))
    for name, cmc, tpir in rows:
        cells = [percent(cmc[rank]) for rank in ranks] + [percent(tpir[fpir]) for fpir in fpirs]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append(
        "\nOpen set: probes whose subject is in no gallery count towards the FPIR. insightface's "
        "TPIR rule: "
        + ", ".join(
            f"{keys.format_far(f)}: {percent_with_unit(v)}" for f, v in results.tpir_insightface.items()
        )
    )
    return lines


def write_template_results(evaluation: TemplateEvaluation, out_dir: Path) -> list[Path]:
    """``ijb_report.md``, ``ijb_tar_at_far.csv`` and ``template_scores.npz`` (each template
    pair's ``score`` and label ``same``, in the protocol's pair order; NaN: not scored)."""
    report = out_dir / run_keys.IJB_REPORT_FILE
    sections = ["## 1:1 verification", "", *verification_markdown(evaluation)]
    if evaluation.identification is not None:
        sections += ["", "## 1:N identification", "", *identification_markdown(evaluation)]
    report.write_text("\n".join(sections) + "\n")
    table = out_dir / run_keys.TAR_AT_FAR_FILE
    write_rows(
        table,
        ["far", "tar", "tar_insightface"],
        ([far, tar, evaluation.table.tar_insightface[far]] for far, tar in evaluation.table.tar.items()),
    )
    scores = out_dir / run_keys.TEMPLATE_SCORES_FILE
    np.savez_compressed(
        scores, score=evaluation.scores.astype(np.float32), same=evaluation.labels.astype(np.int8)
    )
    return [report, table, scores]
