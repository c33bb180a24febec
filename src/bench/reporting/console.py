"""The end-of-run summary table."""

from __future__ import annotations

from collections.abc import Mapping

from rich.table import Table

from bench.metrics import keys
from bench.reporting.formatting import fixed, percent_with_unit, with_spread


def summary_table(title: str, metrics: Mapping[str, float]) -> Table:
    """The figures a user compares between methods, one row each."""
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    rows = [
        (
            "10-fold accuracy",
            with_spread(metrics[keys.ACCURACY], metrics[keys.ACCURACY_STD], percent_with_unit, "+-"),
        ),
        ("accuracy, both faces detected", percent_with_unit(metrics[keys.ACCURACY_DETECTED])),
        ("ROC AUC", fixed(metrics[keys.AUC], 5)),
        ("EER", percent_with_unit(metrics[keys.EER])),
        *(
            (f"TAR @ FAR {keys.format_far(far)}", percent_with_unit(metrics[keys.tar_at_far(far)]))
            for far in keys.DEFAULT_FAR_TARGETS
        ),
        ("best threshold (score)", fixed(metrics[keys.BEST_THRESHOLD], 4)),
        ("detection success (images)", percent_with_unit(metrics[keys.SUCCESS_RATE])),
        ("detection success (pairs)", percent_with_unit(metrics[keys.PAIR_SUCCESS_RATE])),
        (
            "pairs scored",
            f"{fixed(metrics[keys.NUM_PAIRS_SCORED], 0)} / {fixed(metrics[keys.NUM_PAIRS_TOTAL], 0)}",
        ),
        *((f"{stage} ms/image", fixed(metrics[keys.ms_per_image(stage)], 2)) for stage in keys.STAGES),
        ("end to end images/s", fixed(metrics[keys.IMAGES_PER_S], 1)),
        ("model load s", fixed(metrics[keys.TIME_LOAD_S], 2)),
        ("peak RSS MiB", fixed(metrics[keys.PEAK_RSS_MB], 0)),
        ("peak GPU MiB", fixed(metrics[keys.PEAK_GPU_MB], 0)),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table


def shard_summary(title: str, shard: int, num_shards: int, metrics: Mapping[str, float]) -> Table:
    """A shard's job: what it computed and at what cost; the evaluation is the merge's."""
    table = Table(title=f"{title}: shard {shard} of {num_shards}", show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    share = metrics[keys.NUM_IMAGES_COMPUTED] + metrics[keys.NUM_IMAGES_CACHED]
    rows = [
        ("images in its share", fixed(share, 0)),
        ("computed (the rest were in its store)", fixed(metrics[keys.NUM_IMAGES_COMPUTED], 0)),
        ("end to end images/s", fixed(metrics[keys.IMAGES_PER_S], 1)),
        ("peak RSS MiB", fixed(metrics[keys.PEAK_RSS_MB], 0)),
        ("evaluation", f"the run without dataset.shard, once all {num_shards} shards are in"),
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
            (f"TAR @ FAR {keys.format_far(far)}", percent_with_unit(metrics[keys.tar_at_far(far)]))
            for far in keys.IJB_FAR_TARGETS
        ),
        ("ROC AUC", fixed(metrics[keys.AUC], 5)),
        *((name, percent_with_unit(metrics[key])) for name, key in identification),
        ("detection success (images)", percent_with_unit(metrics[keys.SUCCESS_RATE])),
        (
            "template pairs scored",
            f"{fixed(metrics[keys.NUM_PAIRS_SCORED], 0)} / {fixed(metrics[keys.NUM_PAIRS_TOTAL], 0)}",
        ),
        *((f"{stage} ms/image", fixed(metrics[keys.ms_per_image(stage)], 2)) for stage in keys.STAGES),
        ("end to end images/s", fixed(metrics[keys.IMAGES_PER_S], 1)),
        ("peak RSS MiB", fixed(metrics[keys.PEAK_RSS_MB], 0)),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table
