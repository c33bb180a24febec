"""The end-of-run summary table."""

from __future__ import annotations

from collections.abc import Mapping

from rich.console import Console
from rich.table import Table


def _percent(value: float) -> str:
    return f"{100 * value:.2f} %"


def summary_table(title: str, metrics: Mapping[str, float]) -> Table:
    """The figures a user compares between methods, one row each."""
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    rows = [
        ("10-fold accuracy", f"{_percent(metrics['accuracy'])} +- {_percent(metrics['accuracy_std'])}"),
        ("accuracy, both faces detected", _percent(metrics["accuracy_detected"])),
        ("ROC AUC", f"{metrics['auc']:.5f}"),
        ("EER", _percent(metrics["eer"])),
        ("TAR @ FAR 1e-3", _percent(metrics["tar_at_far_1e-3"])),
        ("TAR @ FAR 1e-2", _percent(metrics["tar_at_far_1e-2"])),
        ("best threshold (cosine)", f"{metrics['best_threshold']:.4f}"),
        ("detection success (images)", _percent(metrics["success_rate"])),
        ("detection success (pairs)", _percent(metrics["pair_success_rate"])),
        ("pairs scored", f"{metrics['num_pairs_scored']:.0f} / {metrics['num_pairs_total']:.0f}"),
        *(
            (f"{stage} ms/image", f"{metrics[f'ms_per_image_{stage}']:.2f}")
            for stage in ("decode", "detect", "align", "embed")
        ),
        ("end to end images/s", f"{metrics['images_per_s']:.1f}"),
        ("model load s", f"{metrics['time_load_s']:.2f}"),
        ("peak RSS MiB", f"{metrics['peak_rss_mb']:.0f}"),
        ("peak GPU MiB", f"{metrics['peak_gpu_mb']:.0f}"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table


def print_summary(title: str, metrics: Mapping[str, float], console: Console | None = None) -> None:
    (console or Console()).print(summary_table(title, metrics))
