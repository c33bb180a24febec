"""The end-of-run summary table."""

from __future__ import annotations

import math
from collections.abc import Mapping

from rich.console import Console
from rich.table import Table

from bench.metrics import keys


def _percent(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{100 * value:.2f} %"


def summary_table(title: str, metrics: Mapping[str, float]) -> Table:
    """The figures a user compares between methods, one row each."""
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    rows = [
        ("10-fold accuracy", f"{_percent(metrics[keys.ACCURACY])} +- {_percent(metrics[keys.ACCURACY_STD])}"),
        ("accuracy, both faces detected", _percent(metrics[keys.ACCURACY_DETECTED])),
        ("ROC AUC", f"{metrics[keys.AUC]:.5f}"),
        ("EER", _percent(metrics[keys.EER])),
        *(
            (f"TAR @ FAR {keys.format_far(far)}", _percent(metrics[keys.tar_at_far(far)]))
            for far in keys.DEFAULT_FAR_TARGETS
        ),
        ("best threshold (cosine)", f"{metrics[keys.BEST_THRESHOLD]:.4f}"),
        ("detection success (images)", _percent(metrics[keys.SUCCESS_RATE])),
        ("detection success (pairs)", _percent(metrics[keys.PAIR_SUCCESS_RATE])),
        ("pairs scored", f"{metrics[keys.NUM_PAIRS_SCORED]:.0f} / {metrics[keys.NUM_PAIRS_TOTAL]:.0f}"),
        *((f"{stage} ms/image", f"{metrics[keys.ms_per_image(stage)]:.2f}") for stage in keys.STAGES),
        ("end to end images/s", f"{metrics[keys.IMAGES_PER_S]:.1f}"),
        ("model load s", f"{metrics[keys.TIME_LOAD_S]:.2f}"),
        ("peak RSS MiB", f"{metrics[keys.PEAK_RSS_MB]:.0f}"),
        ("peak GPU MiB", f"{metrics[keys.PEAK_GPU_MB]:.0f}"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table


def template_summary_table(title: str, metrics: Mapping[str, float]) -> Table:
    """An IJB run's figures: the 1:1 TAR at each FAR, 1:N when measured, detection and speed."""
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    identification = [
        (name, key)
        for name, key in (
            ("1:N rank 1", keys.cmc_at_rank(1)),
            ("1:N rank 5", keys.cmc_at_rank(5)),
            ("1:N TPIR @ FPIR 1e-2", keys.tpir_at_fpir(1e-2)),
            ("1:N TPIR @ FPIR 1e-1", keys.tpir_at_fpir(1e-1)),
        )
        if key in metrics
    ]
    rows = [
        *(
            (f"TAR @ FAR {keys.format_far(far)}", _percent(metrics[keys.tar_at_far(far)]))
            for far in keys.IJB_FAR_TARGETS
        ),
        ("ROC AUC", f"{metrics[keys.AUC]:.5f}"),
        *((name, _percent(metrics[key])) for name, key in identification),
        ("detection success (images)", _percent(metrics[keys.SUCCESS_RATE])),
        (
            "template pairs scored",
            f"{metrics[keys.NUM_PAIRS_SCORED]:.0f} / {metrics[keys.NUM_PAIRS_TOTAL]:.0f}",
        ),
        *((f"{stage} ms/image", f"{metrics[keys.ms_per_image(stage)]:.2f}") for stage in keys.STAGES),
        ("end to end images/s", f"{metrics[keys.IMAGES_PER_S]:.1f}"),
        ("peak RSS MiB", f"{metrics[keys.PEAK_RSS_MB]:.0f}"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table


def print_summary(title: str, metrics: Mapping[str, float], console: Console | None = None) -> None:
    """The pairs' table, or IJB's for a template run (which has no 10-fold accuracy)."""
    table = summary_table if keys.ACCURACY in metrics else template_summary_table
    (console or Console()).print(table(title, metrics))
