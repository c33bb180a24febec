"""The alignment-tolerance curve: how good must landmarks be for this model?

The reference landmarks (``detector=reference``: per image the median of several detectors')
are moved by a controlled error of growing size (``perturbation.*``), each level aligned and
scored: accuracy against the landmark error (NME) it made is the curve. Every method's own NME
against the same reference, beside its accuracy on the same pairs, is a point on the same axes:
a method left of where the curve bends loses nothing to its landmarks.

NME here is the mean distance between corresponding points, over the reference's inter-ocular
distance, averaged over the images both runs found a face in.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure

from bench.reporting.plots import save_figure
from bench.reporting.safe_csv import write_table


@dataclass(frozen=True)
class LandmarkRun:
    """A finished run's accuracy and the five points of each image's aligned face."""

    label: str
    accuracy: float
    #: ``(image path, stressed)`` -> ``K x 2`` points named by ``names``, NaN where absent.
    landmarks: Mapping[tuple[str, bool], np.ndarray]
    names: tuple[str, ...]
    #: The perturbation the run added (``none`` for a method's own landmarks) and its size.
    kind: str = "none"
    magnitude: float = 0.0


def is_unperturbed(kind: str, magnitude: float) -> bool:
    """A reference run without an added error: the one every NME is measured against."""
    return kind == "none" or magnitude == 0


def read_landmarks(path: Path) -> tuple[dict[tuple[str, bool], np.ndarray], tuple[str, ...]]:
    """A run's ``landmarks.npz`` (``bench.tracking.artifacts.write_landmarks``): the points per
    image and their names."""
    with np.load(path) as arrays:
        keys = zip(arrays["paths"].tolist(), arrays["stressed"].tolist(), strict=True)
        return dict(zip(keys, arrays["landmarks"], strict=True)), tuple(arrays["names"].tolist())


def landmark_error(
    points: Mapping[tuple[str, bool], np.ndarray],
    reference: Mapping[tuple[str, bool], np.ndarray],
    names: tuple[str, ...],
) -> tuple[float, int]:
    """NME of ``points`` against ``reference`` (both named by ``names``) and the number of
    images it is measured on: those where both have points and the reference both eyes."""
    left, right = names.index("left_eye"), names.index("right_eye")
    errors = []
    for key, truth in reference.items():
        own = points.get(key)
        if own is None:
            continue
        iod = float(np.linalg.norm(truth[right] - truth[left]))
        distances = np.linalg.norm(own - truth, axis=1)
        distances = distances[~np.isnan(distances)]
        if iod > 0 and distances.size:
            errors.append(distances.mean() / iod)
    return (float(np.mean(errors)) if errors else math.nan), len(errors)


def tolerance_report(
    references: Sequence[LandmarkRun], methods: Sequence[LandmarkRun], out_dir: Path
) -> list[Path]:
    """``alignment_tolerance.csv`` and ``.png`` from the reference runs (one unperturbed among
    them: the reference every NME is measured against) and the methods' own runs."""
    base = [run for run in references if is_unperturbed(run.kind, run.magnitude)]
    if not base:
        raise ValueError(
            "the alignment-tolerance curve needs the unperturbed reference run (perturbation.magnitude=0)"
        )
    truth, names = base[0].landmarks, base[0].names
    rows = []
    for role, runs in (("reference", references), ("method", methods)):
        for run in runs:
            if run.names != names:
                raise ValueError(f"{run.label}: landmarks named {run.names}, the reference's {names}")
            error, images = landmark_error(run.landmarks, truth, names)
            rows.append(
                {
                    "role": role,
                    "label": run.label,
                    "kind": run.kind,
                    "magnitude": run.magnitude,
                    "nme": error,
                    "images": images,
                    "accuracy": run.accuracy,
                }
            )
    table = pd.DataFrame(rows).sort_values(["role", "kind", "magnitude", "label"], kind="stable")
    csv = out_dir / "alignment_tolerance.csv"
    out_dir.mkdir(parents=True, exist_ok=True)
    write_table(table, csv)
    return [csv, _plot(table, out_dir / "alignment_tolerance.png")]


def _plot(table: pd.DataFrame, path: Path) -> Path:
    fig = Figure(figsize=(7, 5), dpi=120, layout="constrained")
    ax = fig.add_subplot()
    curve = table[table["role"] == "reference"]
    base = curve[
        [is_unperturbed(kind, size) for kind, size in zip(curve["kind"], curve["magnitude"], strict=True)]
    ]
    for kind, levels in curve[curve["kind"] != "none"].groupby("kind"):
        levels = pd.concat([base, levels]).sort_values("nme")
        ax.plot(
            100 * levels["nme"],
            100 * levels["accuracy"],
            marker="o",
            linewidth=1.5,
            label=f"reference + {kind}",
        )
    # Methods crowd where the detectors agree: each its own marker and colour, named in the legend.
    points = table[(table["role"] == "method") & table["nme"].notna()]
    markers = "sD^vP*Xph<>"
    for index, row in enumerate(points.itertuples()):
        ax.scatter(
            100 * row.nme,
            100 * row.accuracy,
            marker=markers[index % len(markers)],
            color=colormaps["tab10"]((index + 1) % 10),
            edgecolors="black",
            linewidths=0.5,
            s=42,
            zorder=3,
            label=f"{row.label} (NME {100 * row.nme:.1f} %)",
        )
    ax.set_xlabel("landmark error against the reference, NME (% of inter-ocular distance)")
    ax.set_ylabel("accuracy (%)")
    ax.set_title("Alignment tolerance: accuracy against landmark error", fontsize=10)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="lower left")
    return save_figure(fig, path)
