"""What each protocol writes, prints and compares, by its name (``bench.pipeline.protocols``):
above the pipeline, the one place that knows that pairs and templates report differently.

A run logs its protocol's name as a tag; its artifacts, its console summary, the figure a
sweeper gets back and a sweep's comparison all follow that name, never a sniffed metric or file.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from mlflow.entities import Run
from rich.table import Table

from bench.metrics import keys
from bench.pipeline import BenchmarkResult, ImageStatus
from bench.pipeline.protocols import PAIRS, TEMPLATES
from bench.reporting.comparison import Comparison
from bench.reporting.console import summary_table, template_summary_table
from bench.reporting.safe_csv import read_table, write_rows
from bench.reporting.template_comparison import compare_template_runs
from bench.reporting.templates import write_template_results
from bench.tracking import run_keys
from bench.tracking.pair_sweeps import compare_pair_runs
from bench.tracking.sweep_runs import SweepRuns

#: A run's ROC: false and true positive rates, and the area under it.
Roc = tuple[np.ndarray, np.ndarray, float]


@dataclass(frozen=True)
class ProtocolReport:
    #: The metric a job returns to Hydra's sweepers (optimisers maximise it).
    headline: str
    summary: Callable[[str, Mapping[str, float]], Table]
    #: The protocol's own files of a run, and its ROC.
    artifacts: Callable[[BenchmarkResult, Path], tuple[list[Path], Roc]]
    #: The run artifact holding its scores, and how a comparison reads it.
    scores_file: str
    read_scores: Callable[[Path], pd.DataFrame]
    compare: Callable[[SweepRuns], tuple[Comparison, list[Path]]]


def write_pair_scores(result: BenchmarkResult, path: Path) -> Path:
    detected = [record.status is ImageStatus.DETECTED for record in result.records]
    pairs = zip(result.dataset.pairs, result.scores, result.index_a, result.index_b, strict=True)
    return write_rows(
        path,
        ["fold", "image_a", "image_b", "same", "score", "both_detected"],
        (
            [
                pair.fold,
                pair.image_a,
                pair.image_b,
                int(pair.same),
                round(float(score), 6),
                int(detected[index_a] and detected[index_b]),
            ]
            for pair, score, index_a, index_b in pairs
        ),
    )


def _pair_artifacts(result: BenchmarkResult, out_dir: Path) -> tuple[list[Path], Roc]:
    verification = result.verification
    assert verification is not None  # pairs of images always have one
    scores = write_pair_scores(result, out_dir / run_keys.PAIR_SCORES_FILE)
    return [scores], (verification.fpr, verification.tpr, verification.auc)


def _template_artifacts(result: BenchmarkResult, out_dir: Path) -> tuple[list[Path], Roc]:
    assert result.templates is not None  # a template protocol's result
    table = result.templates.table
    return write_template_results(result.templates, out_dir), (table.fpr, table.tpr, table.auc)


def _template_scores(path: Path) -> pd.DataFrame:
    with np.load(path) as arrays:
        return pd.DataFrame({"score": arrays["score"], "same": arrays["same"]})


def _compare_templates(sweep: SweepRuns) -> tuple[Comparison, list[Path]]:
    comparison = compare_template_runs(sweep.runs, sweep.out_dir)
    return comparison, list(comparison.files)


REPORTS: dict[str, ProtocolReport] = {
    PAIRS: ProtocolReport(
        headline=keys.ACCURACY,
        summary=summary_table,
        artifacts=_pair_artifacts,
        scores_file=run_keys.PAIR_SCORES_FILE,
        read_scores=read_table,
        compare=compare_pair_runs,
    ),
    TEMPLATES: ProtocolReport(
        headline=keys.tar_at_far(keys.IJB_HEADLINE_FAR),
        summary=template_summary_table,
        artifacts=_template_artifacts,
        scores_file=run_keys.TEMPLATE_SCORES_FILE,
        read_scores=_template_scores,
        compare=_compare_templates,
    ),
}


def report_for(protocol: str) -> ProtocolReport:
    try:
        return REPORTS[protocol]
    except KeyError:
        raise KeyError(f"no report for protocol {protocol!r}; known: {', '.join(REPORTS)}") from None


def sweep_protocol(children: Sequence[Run]) -> str:
    """The protocol of a sweep's finished jobs (pairs when none finished); jobs of two protocols
    cannot be ranked in one table."""
    found = {
        run.data.tags.get(run_keys.PROTOCOL_TAG, PAIRS) for run in children if run.info.status == "FINISHED"
    }
    if len(found) > 1:
        raise ValueError(
            f"a sweep mixes protocols {sorted(found)}: compare pairs and templates in separate sweeps"
        )
    return found.pop() if found else PAIRS
