"""A sweep's methods side by side: one table, a console ranking and the figures that compare them.

Each method is one job of a Hydra sweep. The table keeps the metrics its run logged and adds its
accuracy on the *common subset*: the pairs whose two faces every finished method detected. A
method's own accuracy is measured on every pair it scored, fallback crops included, so a method
that misses hard faces is judged on different faces than one that finds them; on the common
subset all methods are scored on the same pairs and only their detection and alignment differ.
A failed job is listed as such and left out of every figure and of the common subset.
On the common subset every two methods are tested for a difference beyond chance (exact McNemar
on the pairs one decides right and the other wrong, Holm-adjusted; see
:mod:`bench.metrics.significance`), and methods that no test tells apart share a group letter.
A job that took images from the feature cache spent no stage time on them, so its speed would
look better than it is: its speed figures are shown as not measured, beside its cached share.
"""

from __future__ import annotations

import fnmatch
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial, reduce
from pathlib import Path

import numpy as np
import pandas as pd

from bench.metrics import (
    CrossValidatedDecisions,
    Significance,
    VerificationResult,
    cross_validated_decisions,
    evaluate_verification,
    keys,
    pairwise_significance,
)
from bench.reporting.columns import Column, column_keys, escaped, markdown_table, metric_keys
from bench.reporting.dashboard import plot_dashboard, plot_faces_by_method
from bench.reporting.formatting import MISSING, fixed, integer, p_value, percent, with_spread, yes_no
from bench.reporting.plots import plot_roc_curves
from bench.reporting.safe_csv import write_table

FINISHED = "FINISHED"
PAIR_KEY = ("fold", "image_a", "image_b")
#: Speed figures: measured only when a job computed every image (a cached image costs no stage time).
SPEED_METRICS = (*(keys.ms_per_image(stage) for stage in keys.STAGES), keys.IMAGES_PER_S)
#: The table (``comparison.csv`` in this order; ``comparison.md`` where a column has a header).
TABLE_COLUMNS = (
    Column("rank", "#", integer),
    Column("method", "method", left=True),
    Column("status", "status", left=True),
    Column("run_id"),
    Column(keys.ACCURACY, "accuracy %", percent, spread=keys.ACCURACY_STD, metric=True),
    Column(keys.ACCURACY_STD, metric=True),
    Column("common_accuracy", "common-subset accuracy %", percent, spread="common_accuracy_std"),
    Column("common_accuracy_std"),
    Column("group", "group", left=True),
    Column(keys.AUC, "AUC", partial(fixed, digits=5), metric=True),
    Column(keys.EER, "EER %", percent, metric=True),
    *(
        Column(keys.tar_at_far(far), f"TAR@FAR={keys.format_far(far)} %", percent, metric=True)
        for far in keys.DEFAULT_FAR_TARGETS
    ),
    Column(keys.SUCCESS_RATE, "success %", percent, metric=True),
    Column(keys.PAIR_SUCCESS_RATE, "pair success %", percent, metric=True),
    *(
        Column(keys.ms_per_image(stage), f"{stage} ms/image", partial(fixed, digits=2), metric=True)
        for stage in keys.STAGES
    ),
    Column(keys.IMAGES_PER_S, "images/s", partial(fixed, digits=1), metric=True),
    Column("cached_fraction", "cached %", partial(percent, digits=1)),
    Column(keys.PEAK_RSS_MB, "peak RSS MiB", partial(fixed, digits=0), metric=True),
    Column(keys.PEAK_GPU_MB, "peak GPU MiB", partial(fixed, digits=0), metric=True),
)
COLUMNS = column_keys(TABLE_COLUMNS)
#: The logged metrics the table shows: a finished run must have logged every one.
TABLE_METRICS = metric_keys(TABLE_COLUMNS)
#: Logged metrics the table needs besides its columns: how many images the job computed and how
#: many it took from the cache.
CACHE_COUNTS = (keys.NUM_IMAGES_COMPUTED, keys.NUM_IMAGES_CACHED)
MAX_SAMPLE_FACES = 8
MAX_RANKING_LABEL = 48

#: Parameter leaves that name a choice ("detector.name", "hardware.device"): preferred in labels,
#: and shown without their key when they alone tell the runs apart.
_CHOICE_LEAVES = ("name", "device")


class MissingMetricsError(ValueError):
    """A finished run did not log a metric the comparison shows."""


@dataclass
class MethodRun:
    """One job of a sweep, as its MLflow run and run dir left it."""

    label: str  # what varied across the sweep, e.g. "yunet" or "detector.name=yunet model.name=..."
    run_id: str
    status: str  # MLflow status: FINISHED, FAILED, KILLED
    metrics: dict[str, float]  # empty for a failed job
    pair_scores: pd.DataFrame | None  # pair_scores.csv; None when missing (failed job)
    samples: dict[str, np.ndarray]  # image path -> aligned face (aligned_faces.npz); empty when missing
    quality: pd.DataFrame | None = None  # quality.csv: each image's quality signals; None when missing

    @property
    def finished(self) -> bool:
        return self.status == FINISHED


@dataclass
class Comparison:
    """What :func:`compare_runs` measured and wrote."""

    table: pd.DataFrame  # one row per method, finished ranked by accuracy, then the failed ones
    ranking: str  # plain text for the console
    files: list[Path]  # everything written
    common_pairs: int = 0  # pairs in the common subset
    notes: list[str] = field(default_factory=list)  # what could not be measured, and why


def compare_runs(runs: Sequence[MethodRun], out_dir: Path) -> Comparison:
    """Compare a sweep's runs: write ``comparison.csv``, ``comparison.md``, ``significance.csv``,
    ``dashboard.png``, ``roc_overlay.png`` and ``aligned_faces_by_method.png`` into ``out_dir``.

    The CSV keeps metric units (fractions, as in ``metrics.json``); the Markdown table shows
    percent. A figure that has nothing to show (no finished method, no sample image shared by
    every method) is not written, and the reason is added to the notes. A finished run lacking a
    metric of ``TABLE_METRICS`` raises :class:`MissingMetricsError` before anything is written.
    """
    if not runs:
        raise ValueError("no runs to compare")
    duplicated = sorted(label for label, count in Counter(run.label for run in runs).items() if count > 1)
    if duplicated:
        raise ValueError(f"method labels must be unique, got duplicates {duplicated}")
    _check_table_metrics(runs)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    finished = [run for run in runs if run.finished]
    scored = {run.label: run.pair_scores for run in finished if run.pair_scores is not None}
    notes = [
        f"{run.label}: no pair scores, left out of the common subset and the ROC overlay"
        for run in finished
        if run.pair_scores is None
    ]
    common_pairs, common, decisions, note = _common_subset(scored)
    notes += [note] if note else []
    significance = _significance(decisions, notes)

    table = _table(runs, common, significance.letters if significance else {})
    notes += _cache_notes(table)
    total_pairs = max((len(frame) for frame in scored.values()), default=0)
    files = [out_dir / "comparison.csv", out_dir / "comparison.md"]
    write_table(table, files[0])
    if significance:
        files.append(out_dir / "significance.csv")
        write_table(pd.DataFrame([asdict(test) for test in significance.tests]), files[-1])

    ranked = table[table["status"] == FINISHED]
    files.append(
        plot_dashboard(
            ranked,
            out_dir / "dashboard.png",
            title=f"{len(ranked)} of {len(runs)} methods finished; common subset: {common_pairs} pairs",
        )
    )
    # Every figure lists the methods in rank order, so each keeps one colour (tab10 by rank).
    by_label = {run.label: run for run in finished}
    by_rank = [by_label[label] for label in ranked["method"]]
    files += _roc_overlay(
        {run.label: scored[run.label] for run in by_rank if run.label in scored}, out_dir, notes
    )
    files += _face_grid({run.label: run.samples for run in by_rank}, out_dir, notes)

    files[1].write_text(_markdown(table, common_pairs, total_pairs, significance, notes))
    return Comparison(table, _ranking(table, common_pairs, notes), files, common_pairs, notes)


def varying_labels(params_per_run: Sequence[Mapping[str, str]], ignore: Iterable[str] = ()) -> list[str]:
    """A short, unique label per run from the parameters that tell the runs apart.

    Keys matching a pattern of ``ignore`` (``fnmatch``) are skipped. Of the keys whose values
    differ, one is kept only if it separates runs that the keys kept before it do not, trying
    choice keys (``*.name``, ``*.device``) first, then shallow keys, then by name: a detector
    sweep also changes every ``detector.options.*``, but ``detector.name`` alone tells the runs
    apart; a kept key that the others kept imply is dropped again. A single kept key that is a
    choice gives its bare value ("yunet"); otherwise the
    label is ``key=value`` pairs in key order ("detector.name=yunet model.name=edgeface_xs_q"),
    ``?`` where a run lacks the key. Runs that no parameter tells apart are numbered ("run #1",
    "run #2")."""
    patterns = tuple(ignore)
    runs = [
        {str(key): str(value) for key, value in params.items() if not matches_any(str(key), patterns)}
        for params in params_per_run
    ]
    param_keys = sorted({key for params in runs for key in params}, key=_key_priority)
    chosen: list[str] = []
    groups = 1
    for key in param_keys:
        if len({params[key] for params in runs if key in params}) < 2:
            continue
        candidate = [*chosen, key]
        count = len({tuple(params.get(name) for name in candidate) for params in runs})
        if count > groups:
            chosen, groups = candidate, count
    # A key taken early can be implied by one taken later (``detector=none`` brings its own
    # data set, so ``dataset.name`` follows ``detector.name``): drop it.
    for key in list(chosen):
        rest = [name for name in chosen if name != key]
        if rest and len({tuple(params.get(name) for name in rest) for params in runs}) == groups:
            chosen = rest
    chosen.sort()

    def label(params: Mapping[str, str]) -> str:
        if len(chosen) == 1 and chosen[0].rsplit(".", 1)[-1] in _CHOICE_LEAVES:
            return params.get(chosen[0], "?")
        return " ".join(f"{key}={params.get(key, '?')}" for key in chosen) or "run"

    labels = [label(params) for params in runs]
    counts = Counter(labels)
    seen: Counter[str] = Counter()
    numbered = []
    for text in labels:
        seen[text] += 1
        numbered.append(f"{text} #{seen[text]}" if counts[text] > 1 else text)
    return numbered


def matches_any(key: str, patterns: Iterable[str]) -> bool:
    """Whether ``key`` matches one of the ``fnmatch`` ``patterns``."""
    return any(fnmatch.fnmatchcase(key, pattern) for pattern in patterns)


def _key_priority(key: str) -> tuple[int, int, str]:
    leaf = key.rsplit(".", 1)[-1]
    choice = _CHOICE_LEAVES.index(leaf) if leaf in _CHOICE_LEAVES else len(_CHOICE_LEAVES)
    return choice, key.count("."), key


def _common_subset(
    scored: Mapping[str, pd.DataFrame],
) -> tuple[int, dict[str, VerificationResult], dict[str, CrossValidatedDecisions], str | None]:
    """The pairs every method detected (both faces, a finite score), matched on fold and image
    names (and occurrence, should a pair repeat), and each method's verification and per-pair
    decisions on exactly those pairs, in the same order; a note instead of results when they
    cannot be scored."""
    if not scored:
        return 0, {}, {}, "no finished method has pair scores: no common subset"
    keyed = {label: keyed_pairs(frame) for label, frame in scored.items()}
    common = common_pairs(keyed.values(), detected_only=True)
    if common.empty:
        return 0, {}, {}, "no pair was detected by every finished method: common-subset accuracy is NaN"
    results, decisions = {}, {}
    for label, frame in keyed.items():
        pairs = frame.loc[common].reset_index()
        result = _evaluate(pairs)
        if result is None:
            labels = frame.loc[common, "same"].astype(int)
            note = (
                f"the common subset ({len(common)} pairs: {int(labels.sum())} same, "
                f"{int((labels == 0).sum())} different) needs 2 pairs of each class: "
                "common-subset accuracy is NaN"
            )
            return len(common), {}, {}, note
        results[label] = result
        decisions[label] = pair_decisions(frame, common)
    return len(common), results, decisions, None


def common_pairs(keyed: Iterable[pd.DataFrame], detected_only: bool) -> pd.Index:
    """The pairs (``keyed_pairs``' index), in order, that every run scored (a finite score) and,
    with ``detected_only``, whose two faces every run detected."""
    kept = []
    for frame in keyed:
        scored = np.isfinite(frame["score"].to_numpy(dtype=np.float64))
        if detected_only:
            scored &= frame["both_detected"].astype(int).to_numpy() == 1
        kept.append(frame.index[scored])
    return reduce(lambda left, right: left.intersection(right), kept).sort_values()


def pair_decisions(keyed: pd.DataFrame, pairs: pd.Index) -> CrossValidatedDecisions:
    """A run's decision on each of ``pairs`` (``common_pairs``) under the cross-validation
    protocol of its accuracy, for the paired tests."""
    chosen = keyed.loc[pairs]
    return cross_validated_decisions(
        chosen["score"].to_numpy(dtype=np.float64),
        chosen["same"].to_numpy(dtype=np.int64),
        pairs.get_level_values("fold").to_numpy(),
    )


def _significance(decisions: Mapping[str, CrossValidatedDecisions], notes: list[str]) -> Significance | None:
    """Every two methods tested on the common subset; None (and a note) with fewer than two
    methods scored there."""
    if len(decisions) < 2:
        notes.append(
            f"{len(decisions)} method(s) scored on the common subset, 2 are needed: "
            "no significance tests or groups, significance.csv not written"
        )
        return None
    return pairwise_significance(decisions)


def _roc_overlay(scored: Mapping[str, pd.DataFrame], out_dir: Path, notes: list[str]) -> list[Path]:
    """Each method's ROC on every pair it scored, as its own run computed it (``roc.png``)."""
    curves = {}
    for label, frame in scored.items():
        result = _evaluate(frame[np.isfinite(frame["score"].to_numpy(dtype=np.float64))])
        if result is None:
            notes.append(f"{label}: its scored pairs lack a class, no ROC curve")
        else:
            curves[label] = (result.fpr, result.tpr, result.auc)
    if not curves:
        notes.append("no finished method has a ROC curve: roc_overlay.png not written")
        return []
    return [plot_roc_curves(curves, out_dir / "roc_overlay.png", title="ROC per method, all scored pairs")]


def _face_grid(
    samples: Mapping[str, Mapping[str, np.ndarray]], out_dir: Path, notes: list[str]
) -> list[Path]:
    """The first few images (sorted by path) that every method with samples aligned, one row per
    method; a method without samples is left out rather than emptying the grid."""
    with_samples = {label: faces for label, faces in samples.items() if faces}
    if not with_samples:
        notes.append("no finished method has aligned samples: no face grid")
        return []
    notes += [f"{label}: no aligned samples, not in the face grid" for label in samples if not samples[label]]
    images = sorted(set.intersection(*(set(faces) for faces in with_samples.values())))[:MAX_SAMPLE_FACES]
    if not images:
        notes.append("no sample image was aligned by every method with samples: no face grid")
        return []
    rows = {label: [faces[image] for image in images] for label, faces in with_samples.items()}
    columns = [Path(image).stem for image in images]
    return [plot_faces_by_method(rows, columns, out_dir / "aligned_faces_by_method.png")]


def keyed_pairs(pair_scores: pd.DataFrame) -> pd.DataFrame:
    """``pair_scores.csv`` indexed by pair (fold, images, occurrence), to match runs' pairs."""
    frame = pair_scores.copy()
    frame["occurrence"] = frame.groupby(list(PAIR_KEY), sort=False).cumcount()
    return frame.set_index([*PAIR_KEY, "occurrence"])


def _evaluate(pairs: pd.DataFrame) -> VerificationResult | None:
    """Verification as the runs score it, or None when a class has fewer than 2 pairs (the
    runner's rule for its detected subset)."""
    labels = pairs["same"].to_numpy(dtype=np.int64)
    if len(labels) == 0 or np.bincount(labels, minlength=2).min() < 2:
        return None
    return evaluate_verification(pairs["score"].to_numpy(dtype=np.float64), labels, pairs["fold"].to_numpy())


def _check_table_metrics(runs: Sequence[MethodRun]) -> None:
    """A finished run lacking a metric the table shows was logged under another name (or not at
    all): an error, not a blank cell that would hide the renamed metric. NaN is a value."""
    lacking = [
        f"{run.label} (run {run.run_id}): {', '.join(missing)}"
        for run in runs
        if run.finished
        and (missing := [key for key in (*TABLE_METRICS, *CACHE_COUNTS) if key not in run.metrics])
    ]
    if lacking:
        raise MissingMetricsError(
            "finished runs lack metrics the comparison table needs:\n  " + "\n  ".join(lacking)
        )


def _table(
    runs: Sequence[MethodRun], common: Mapping[str, VerificationResult], groups: Mapping[str, str]
) -> pd.DataFrame:
    rows = []
    for run in runs:
        row: dict[str, object] = {"method": run.label, "status": run.status, "run_id": run.run_id}
        row.update({key: float(run.metrics[key]) if run.finished else math.nan for key in TABLE_METRICS})
        result = common.get(run.label)
        row["common_accuracy"] = result.accuracy if result else math.nan
        row["common_accuracy_std"] = result.accuracy_std if result else math.nan
        row["group"] = groups.get(run.label, math.nan)
        row["cached_fraction"] = _cached_fraction(run.metrics) if run.finished else math.nan
        if row["cached_fraction"] > 0:
            row.update(dict.fromkeys(SPEED_METRICS, math.nan))
        row["failed"] = not run.finished
        rows.append(row)
    table = pd.DataFrame(rows).sort_values(
        ["failed", keys.ACCURACY, "common_accuracy"],
        ascending=[True, False, False],
        na_position="last",
        kind="stable",
    )
    finished = int((~table["failed"]).sum())
    table["rank"] = pd.array([*range(1, finished + 1), *[pd.NA] * (len(table) - finished)], dtype="Int64")
    return table.reset_index(drop=True)[list(COLUMNS)]


def _cached_fraction(metrics: Mapping[str, float]) -> float:
    """The share of a job's images taken from the feature cache rather than computed."""
    cached = metrics[keys.NUM_IMAGES_CACHED]
    return cached / (cached + metrics[keys.NUM_IMAGES_COMPUTED])


def _cache_notes(table: pd.DataFrame) -> list[str]:
    cached = table[table["cached_fraction"] > 0]
    if cached.empty:
        return []
    jobs = ", ".join(
        f"{method} ({percent(fraction, digits=1)} % of images)"
        for method, fraction in zip(cached["method"], cached["cached_fraction"], strict=True)
    )
    return [
        f"served from the feature cache: {jobs}. Their speed is not measured (-): speed is compared "
        "only among jobs that computed every image (cache=off computes them all)."
    ]


def _markdown(
    table: pd.DataFrame,
    common_pairs: int,
    total_pairs: int,
    significance: Significance | None,
    notes: Sequence[str],
) -> str:
    finished = int((table["status"] == FINISHED).sum())
    lines = [
        f"# Sweep comparison: {len(table)} methods, {finished} finished",
        "",
        f"Common subset: **{common_pairs} pairs** of {total_pairs}, those whose two faces every "
        "finished method detected; each method is scored again on exactly these pairs.",
        "",
        *markdown_table(TABLE_COLUMNS, table.to_dict("records")),
        "",
        "Accuracy: cross-validated over the data set's folds (threshold chosen on the other folds), "
        "mean ± std over folds, on every pair the run scored; common-subset accuracy: the same on the "
        f"{common_pairs} common pairs. Time per stage is per computed image; images/s is end to end; "
        "both are shown only for jobs that computed every image (cached % = 0): a cached image takes "
        "no stage time, so a job served from the cache would look faster than it is.",
    ]
    lines += _significance_markdown(significance) if significance else []
    lines += ["", "Notes:", "", *(f"- {note}" for note in notes)] if notes else []
    return "\n".join(lines) + "\n"


def _significance_markdown(significance: Significance) -> list[str]:
    level = f"{100 * (1 - significance.alpha):g} %"
    tested = len(significance.tests)
    lines = [
        "",
        "## Significance on the common subset",
        "",
        f"On the {significance.num_pairs} common pairs, two methods differ only where one decides a pair "
        "right and the other wrong (each pair by the threshold of its fold, as in the accuracy). The exact "
        "McNemar test asks whether these discordant pairs (n10: only A right, n01: only B right) split more "
        "unevenly than a fair coin would; p is two-sided and Holm-adjusted over the "
        f"{tested} pair{'s' if tested > 1 else ''} of methods. The {level} interval of A - B is a "
        f"paired bootstrap ({significance.resamples} resamples of the pairs within each fold, "
        f"seed {significance.seed}; not adjusted). Methods that share a group letter do not differ "
        f"significantly (Holm p >= {significance.alpha:g}).",
        "",
        *markdown_table(
            _significance_columns(level),
            (asdict(test) | {"interval": (test.ci_low, test.ci_high)} for test in significance.tests),
        ),
    ]
    groups = "; ".join(
        f"**{letter}**: {', '.join(escaped(method) for method in methods)}"
        for letter, methods in significance.groups.items()
    )
    return [*lines, "", f"Groups, best first: {groups}."]


def _significance_columns(level: str) -> tuple[Column, ...]:
    """The Markdown of ``significance.csv``: every two methods' test, differences in points."""
    return (
        Column("method_a", "A", left=True),
        Column("method_b", "B", left=True),
        Column("accuracy_a", "A %", percent),
        Column("accuracy_b", "B %", percent),
        Column("difference", "A - B (pp)", partial(percent, signed=True)),
        Column("interval", f"{level} interval (pp)", _interval),
        Column("n10", "n10", integer),
        Column("n01", "n01", integer),
        Column("p_value", "p", p_value),
        Column("p_holm", "Holm p", p_value),
        Column("significant", "significant", yes_no, left=True),
    )


def _interval(bounds: tuple[float, float]) -> str:
    low, high = bounds
    return f"[{percent(low, signed=True)}, {percent(high, signed=True)}]"


def _ranking(table: pd.DataFrame, common_pairs: int, notes: Sequence[str]) -> str:
    width = min(max(len(str(label)) for label in table["method"]), MAX_RANKING_LABEL)
    groups = ["" if pd.isna(group) else str(group) for group in table["group"]]
    group_width = max(map(len, groups))
    lines = [f"Ranking by accuracy (common subset: {common_pairs} pairs every finished method detected)"]
    for (_, row), group in zip(table.iterrows(), groups, strict=True):
        label = str(row["method"])
        label = (label if len(label) <= width else label[: width - 3] + "...").ljust(width)
        if row["status"] != FINISHED:
            lines.append(f"  {MISSING}  {label}  {row['status']}")
            continue
        accuracy = with_spread(row[keys.ACCURACY], row[keys.ACCURACY_STD], plus_minus="+-")
        common = with_spread(row["common_accuracy"], row["common_accuracy_std"], plus_minus="+-")
        fraction = row["cached_fraction"]
        cached = f" (cached {percent(fraction, digits=1)} %)" if fraction > 0 else ""
        group = f"  group {group:<{group_width}}" if group_width else ""
        lines.append(
            f"{row['rank']:>3}  {label}  {accuracy:>15} %   common {common:>15} %{group}"
            f"   {fixed(row[keys.IMAGES_PER_S], 1):>7} images/s{cached}"
        )
    if group_width:
        lines.append(
            "  methods that share a group letter do not differ significantly on the common subset "
            "(exact McNemar, Holm-adjusted): significance.csv"
        )
    lines += [f"  note: {note}" for note in notes]
    return "\n".join(lines)
