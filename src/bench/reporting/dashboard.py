"""Figures that compare a sweep's methods: the six-panel dashboard and aligned faces per method.

Drawn on bare ``matplotlib.figure.Figure`` objects, like :mod:`bench.reporting.plots`. Each
method keeps one colour in every panel, so a panel can sort its bars by its own metric (best
first) and a method can still be followed across panels.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from bench.metrics import keys
from bench.reporting.plots import FACE_SIZE, save_figure

_LABEL_WIDTH = 22  # characters per line of a method's tick label
_PADDING = 4  # pixels between faces in the face grid
_MAX_NAMED_POINTS = 5  # more methods than this: scatter points carry their rank, not their label


def plot_dashboard(table: pd.DataFrame, path: str | Path, title: str = "") -> Path:
    """Six panels from the comparison table's rows (one per finished method, in rank order):
    accuracy with its fold std (and the common-subset accuracy), accuracy against speed (of the
    jobs that computed every image),
    detection success, EER, peak CPU memory and peak GPU memory. A panel without values says
    so instead of plotting, so a table of failed runs or a CPU-only sweep still draws."""
    methods = list(table["method"])
    palette = matplotlib.colormaps["tab10"]  # matplotlib's default cycle: the ROC overlay's colours
    colours = {method: palette(index % palette.N) for index, method in enumerate(methods)}
    width = max(14.0, 3 * (1.5 + 0.55 * len(methods)))
    fig = Figure(figsize=(width, 10), dpi=110, layout="constrained")
    axes = fig.subplots(2, 3)
    fig.suptitle(f"Sweep comparison: {title}" if title else "Sweep comparison", fontsize=13)

    _bar_panel(
        axes[0, 0],
        table,
        keys.ACCURACY,
        colours,
        title="Accuracy, all scored pairs",
        ylabel="10-fold accuracy % (axis zoomed)",
        error=keys.ACCURACY_STD,
        marker=("common_accuracy", "common subset"),
        zoom=True,
    )
    _speed_panel(axes[0, 1], table, colours)
    _bar_panel(
        axes[0, 2],
        table,
        keys.SUCCESS_RATE,
        colours,
        title="Detection success",
        ylabel="images with a face % (axis zoomed)",
        marker=(keys.PAIR_SUCCESS_RATE, "pairs, both faces"),
        zoom=True,
    )
    _bar_panel(
        axes[1, 0], table, keys.EER, colours, title="Equal error rate", ylabel="EER %", lower_is_better=True
    )
    _bar_panel(
        axes[1, 1],
        table,
        keys.PEAK_RSS_MB,
        colours,
        title="Peak CPU memory",
        ylabel="peak RSS MiB",
        scale=1.0,
        digits=0,
        lower_is_better=True,
    )
    gpu = table[keys.PEAK_GPU_MB].to_numpy(dtype=np.float64)
    if np.all(np.isnan(gpu) | (gpu == 0)):
        _no_data(axes[1, 2], "Peak GPU memory", "CPU only: no GPU memory used")
    else:
        _bar_panel(
            axes[1, 2],
            table,
            keys.PEAK_GPU_MB,
            colours,
            title="Peak GPU memory",
            ylabel="peak GPU MiB",
            scale=1.0,
            digits=0,
            lower_is_better=True,
        )
    return save_figure(fig, path)


def plot_faces_by_method(
    rows: Mapping[str, Sequence[np.ndarray]], columns: Sequence[str], path: str | Path
) -> Path:
    """A grid of aligned faces (RGB uint8): one row per method, labelled with it, one column per
    image, captioned; the same image in each column shows how each method aligned it."""
    if not rows or not columns:
        raise ValueError("no faces to draw")
    cell = FACE_SIZE + _PADDING
    mosaic = np.full((len(rows) * cell + _PADDING, len(columns) * cell + _PADDING, 3), 255, dtype=np.uint8)
    for row, faces in enumerate(rows.values()):
        if len(faces) != len(columns):
            raise ValueError(f"{len(faces)} faces for {len(columns)} columns")
        for column, face in enumerate(faces):
            top, left = _PADDING + row * cell, _PADDING + column * cell
            mosaic[top : top + FACE_SIZE, left : left + FACE_SIZE] = _tile(face)

    fig = Figure(figsize=(2.6 + 1.25 * len(columns), 1.0 + 1.25 * len(rows)), dpi=110, layout="constrained")
    ax = fig.add_subplot()
    ax.imshow(mosaic, interpolation="nearest")
    centres = _PADDING + cell * np.arange(max(len(rows), len(columns))) + FACE_SIZE / 2
    ax.set_yticks(centres[: len(rows)], [_wrap(label) for label in rows], fontsize=8)
    ax.set_xticks(centres[: len(columns)], list(columns), fontsize=7, rotation=30, ha="left")
    ax.xaxis.tick_top()
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_title("The same images aligned by each method", fontsize=10)
    return save_figure(fig, path)


def _bar_panel(
    ax: Axes,
    table: pd.DataFrame,
    column: str,
    colours: Mapping[str, tuple[float, ...]],
    *,
    title: str,
    ylabel: str,
    scale: float = 100.0,
    digits: int = 2,
    error: str | None = None,
    marker: tuple[str, str] | None = None,
    zoom: bool = False,
    lower_is_better: bool = False,
) -> None:
    """Bars of ``column`` (times ``scale``), best first, each annotated with its value;
    optionally error bars and a second metric as black diamonds. ``zoom`` fits the y axis to
    the values, as accuracies and success rates of competing methods all sit in the top percent
    or two."""
    title += " (lower is better)" if lower_is_better else " (higher is better)"
    data = table[table[column].notna()]
    if data.empty:
        _no_data(ax, title, "no values")
        return
    data = data.sort_values(column, ascending=lower_is_better, kind="stable")
    x = np.arange(len(data))
    values = data[column].to_numpy(dtype=np.float64) * scale
    errors = data[error].fillna(0).to_numpy(dtype=np.float64) * scale if error else None
    bars = ax.bar(
        x,
        values,
        yerr=errors,
        capsize=3 if error else 0,
        color=[colours[method] for method in data["method"]],
        edgecolor="black",
        linewidth=0.5,
    )
    ax.bar_label(bars, labels=[f"{value:.{digits}f}" for value in values], fontsize=7, padding=2)
    extremes = [
        values - (errors if errors is not None else 0),
        values + (errors if errors is not None else 0),
    ]
    if marker is not None:
        second = data[marker[0]].to_numpy(dtype=np.float64) * scale
        if not np.all(np.isnan(second)):
            ax.scatter(x, second, marker="D", s=18, color="black", zorder=3, label=marker[1])
            ax.legend(loc="lower left", fontsize=7)
            extremes.append(second[~np.isnan(second)])
    if zoom:  # percentages: room above for the labels, but no tick above 100 %
        low, high = float(np.min(np.concatenate(extremes))), float(np.max(np.concatenate(extremes)))
        margin = max(0.1, 0.25 * (high - low))
        ax.set_ylim(max(0.0, low - margin), min(100.0, high) + margin)
        ax.set_yticks([tick for tick in ax.get_yticks() if tick <= 100.0])
    else:
        ax.set_ylim(0, max(float(np.max(values)), 1e-9) * 1.15)
    ax.set_xticks(x, [_tick(rank, method) for rank, method in zip(data["rank"], data["method"], strict=True)])
    ax.tick_params(axis="x", labelsize=8)
    for tick in ax.get_xticklabels():
        tick.set(rotation=30, ha="right", rotation_mode="anchor")
    ax.set_title(title, fontsize=10)
    ax.set_ylabel(ylabel)
    ax.grid(True, axis="y", alpha=0.3)


def speed_comparable(table: pd.DataFrame) -> pd.DataFrame:
    """The rows the accuracy-vs-speed panel plots: jobs with an accuracy that computed every
    image. A job served from the cache (``cached_fraction`` > 0) spent no time on its cached
    images, so its throughput is no measure of its method."""
    return table[
        (table["cached_fraction"] == 0) & table[keys.IMAGES_PER_S].notna() & table[keys.ACCURACY].notna()
    ]


def _speed_panel(ax: Axes, table: pd.DataFrame, colours: Mapping[str, tuple[float, ...]]) -> None:
    """Accuracy against end-to-end throughput, one labelled point per method: the trade-off a
    practitioner picks from (up and right is better). Jobs served from the cache are left out,
    and named at the foot of the panel."""
    title = "Accuracy vs speed (up and right is better)"
    data = speed_comparable(table)
    cached = table[table["cached_fraction"] > 0]
    if data.empty:
        _no_data(ax, title, "no job computed every image: speed not measured" if len(cached) else "no values")
        return
    speed = data[keys.IMAGES_PER_S].to_numpy(dtype=np.float64)
    accuracy = 100 * data[keys.ACCURACY].to_numpy(dtype=np.float64)
    std = 100 * data[keys.ACCURACY_STD].fillna(0).to_numpy(dtype=np.float64)
    named = len(data) <= _MAX_NAMED_POINTS
    for method, rank, x, y, error in zip(data["method"], data["rank"], speed, accuracy, std, strict=True):
        ax.errorbar(x, y, yerr=error, fmt="o", color=colours[method], capsize=3, markersize=6)
        text = _tick(rank, method) if named else str(rank)
        ax.annotate(text, (x, y), xytext=(5, 4), textcoords="offset points", fontsize=7)
    if speed.min() > 0 and speed.max() / speed.min() > 10:
        ax.set_xscale("log")
    ax.margins(x=0.25, y=0.2)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("images/s, end to end" + (" (log scale)" if ax.get_xscale() == "log" else ""))
    ax.set_ylabel("10-fold accuracy %")
    ax.grid(True, alpha=0.3)
    if len(cached):
        left_out = ", ".join(str(rank) for rank in cached["rank"])
        ax.text(
            0.01,
            0.01,
            f"ranks {left_out} left out: served from the cache, speed not measured",
            transform=ax.transAxes,
            fontsize=7,
            color="dimgrey",
        )


def _no_data(ax: Axes, title: str, text: str) -> None:
    ax.set_title(title, fontsize=10)
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=11, color="dimgrey", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def _tick(rank: object, method: str) -> str:
    """A method's rank and label, long labels ("detector.name=yunet model.name=edgeface_xs_q")
    on several lines; the rank ties bars (sorted per panel) and scatter points to the table."""
    return f"{rank}. {_wrap(method)}"


def _wrap(label: str) -> str:
    return textwrap.fill(str(label), _LABEL_WIDTH, break_long_words=False, break_on_hyphens=False)


def _tile(face: np.ndarray) -> np.ndarray:
    face = np.asarray(face)
    if face.dtype != np.uint8 or face.ndim != 3 or face.shape[2] != 3:
        raise ValueError(f"faces must be HxWx3 uint8 RGB, got {face.dtype} {face.shape}")
    if face.shape[:2] != (FACE_SIZE, FACE_SIZE):
        face = cv2.resize(face, (FACE_SIZE, FACE_SIZE), interpolation=cv2.INTER_AREA)
    return face
