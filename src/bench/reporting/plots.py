"""PNG figures for runs: ROC curves and grids of aligned faces.

Figures are drawn on a bare ``matplotlib.figure.Figure`` (Agg canvas) rather than through
``pyplot``, so nothing needs a display and no global figure state leaks between runs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np
from matplotlib.figure import Figure

MIN_LOG_FAR = 1e-4  # LFW has 3000 negative pairs: below ~3e-4 a FAR is a single pair or zero
FAR_MARKS = (1e-3, 1e-2)

FACE_SIZE = 112
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_FONT_SCALE = 0.35
_LINE_HEIGHT = 12
_MAX_CAPTION_LINES = 3
# One colour per landmark index (RGB), so swapped points (left/right eye) stand out.
_POINT_COLOURS = ((0, 200, 0), (0, 120, 255), (255, 0, 0), (255, 160, 0), (200, 0, 200), (0, 200, 200))


def plot_roc(
    fpr: np.ndarray, tpr: np.ndarray, path: str | Path, label: str, auc: float | None = None
) -> Path:
    """One ROC curve as a PNG at ``path``; see :func:`plot_roc_curves`."""
    return plot_roc_curves({label: (fpr, tpr, auc)}, path, title=f"ROC: {label}")


def plot_roc_curves(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray, float | None]],
    path: str | Path,
    title: str = "ROC",
) -> Path:
    """ROC curves ``{label: (fpr, tpr, auc)}`` on one PNG, FAR on a log axis.

    Face verification is judged at low FAR, where a linear axis squeezes every method into the
    top-left corner, so the x axis is logarithmic from ``MIN_LOG_FAR`` (smaller FARs, including
    0, are clipped onto it) with the usual operating points (1e-3, 1e-2) marked.
    """
    if not curves:
        raise ValueError("no ROC curves to plot")
    fig = Figure(figsize=(6, 5), dpi=120)
    ax = fig.add_subplot()
    for label, (fpr, tpr, auc) in curves.items():
        fpr = np.clip(np.asarray(fpr, dtype=np.float64), MIN_LOG_FAR, 1.0)
        text = label if auc is None else f"{label} (AUC = {auc:.4f})"
        ax.plot(fpr, np.asarray(tpr, dtype=np.float64), label=text, linewidth=1.5)
    chance = np.logspace(np.log10(MIN_LOG_FAR), 0, 200)
    ax.plot(chance, chance, linestyle="--", color="grey", linewidth=0.8, label="chance")
    for far in FAR_MARKS:
        ax.axvline(far, color="black", linestyle=":", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_xlim(MIN_LOG_FAR, 1.0)
    ax.set_ylim(0.0, 1.005)
    ax.set_xlabel(f"False accept rate (FAR, log scale, clipped at {MIN_LOG_FAR:g})")
    ax.set_ylabel("True accept rate (TAR)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")
    fig.tight_layout()
    return save_figure(fig, path)


def save_face_grid(
    faces: Sequence[np.ndarray],
    path: str | Path,
    captions: Sequence[str] | None = None,
    columns: int = 8,
    landmarks: Sequence[np.ndarray | None] | None = None,
    *,
    padding: int = 4,
) -> Path:
    """A PNG grid of aligned faces (RGB uint8, normally 112x112) for eyeballing alignment.

    Faces of another size are resized to 112x112 (their ``landmarks``, in the face's own pixel
    coordinates, are scaled alike). Each face may get a caption underneath (wrapped, at most
    three lines; ``\\n`` forces a break) and points drawn on it, e.g. the template points or the
    warped detections, one colour per point index. Cells are ``padding`` pixels apart on white;
    the grid is ``min(columns, n)`` cells wide and ``ceil(n / columns)`` rows high.
    """
    if len(faces) == 0:
        raise ValueError("no faces to draw")
    if columns < 1:
        raise ValueError(f"columns must be >= 1, got {columns}")
    if captions is not None and len(captions) != len(faces):
        raise ValueError(f"{len(captions)} captions for {len(faces)} faces")
    if landmarks is not None and len(landmarks) != len(faces):
        raise ValueError(f"{len(landmarks)} landmark sets for {len(faces)} faces")

    wrapped = [_wrap(caption, FACE_SIZE) for caption in captions] if captions is not None else []
    caption_height = max((len(lines) for lines in wrapped), default=0) * _LINE_HEIGHT
    if caption_height:
        caption_height += 2
    cell_width, cell_height = FACE_SIZE, FACE_SIZE + caption_height
    n_columns = min(columns, len(faces))
    n_rows = math.ceil(len(faces) / columns)
    grid = np.full(
        (n_rows * (cell_height + padding) + padding, n_columns * (cell_width + padding) + padding, 3),
        255,
        dtype=np.uint8,
    )
    for index, face in enumerate(faces):
        points = landmarks[index] if landmarks is not None else None
        tile = _face_tile(face, points)
        top = padding + (index // columns) * (cell_height + padding)
        left = padding + (index % columns) * (cell_width + padding)
        grid[top : top + FACE_SIZE, left : left + FACE_SIZE] = tile
        for line_number, line in enumerate(wrapped[index] if wrapped else []):
            baseline = top + FACE_SIZE + (line_number + 1) * _LINE_HEIGHT
            cv2.putText(grid, line, (left + 1, baseline), _FONT, _FONT_SCALE, (0, 0, 0), 1, cv2.LINE_AA)

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write {path}")
    return path


def _face_tile(face: np.ndarray, points: np.ndarray | None) -> np.ndarray:
    """The face as a 112x112x3 uint8 RGB tile, with its points drawn on."""
    face = np.asarray(face)
    if face.dtype != np.uint8:
        raise ValueError(f"faces must be uint8 images, got {face.dtype}")
    if face.ndim == 2:
        face = cv2.cvtColor(face, cv2.COLOR_GRAY2RGB)
    if face.ndim != 3 or face.shape[2] != 3:
        raise ValueError(f"faces must be HxWx3 RGB, got shape {face.shape}")
    height, width = face.shape[:2]
    tile = np.ascontiguousarray(face)
    if (height, width) != (FACE_SIZE, FACE_SIZE):
        tile = cv2.resize(tile, (FACE_SIZE, FACE_SIZE), interpolation=cv2.INTER_AREA)
    else:
        tile = tile.copy()
    if points is not None:
        scale = np.array([FACE_SIZE / width, FACE_SIZE / height])
        for number, (x, y) in enumerate(np.asarray(points, dtype=np.float64).reshape(-1, 2) * scale):
            centre = (round(x), round(y))
            cv2.circle(tile, centre, 3, (0, 0, 0), -1, cv2.LINE_AA)  # dark rim: visible on any skin
            cv2.circle(tile, centre, 2, _POINT_COLOURS[number % len(_POINT_COLOURS)], -1, cv2.LINE_AA)
    return tile


def _wrap(caption: str, width: int) -> list[str]:
    """Break ``caption`` into lines that fit ``width`` pixels, by characters (image names have no
    spaces); at most ``_MAX_CAPTION_LINES``, the last one ending in '...' if cut. Hershey fonts
    are ASCII only, so other characters become '?'."""
    text = caption.encode("ascii", "replace").decode("ascii")
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for char in paragraph:
            if line and _text_width(line + char) > width - 2:
                lines.append(line)
                line = ""
            line += char
        lines.append(line)
    if len(lines) > _MAX_CAPTION_LINES:
        last = lines[_MAX_CAPTION_LINES - 1]
        while last and _text_width(last + "...") > width - 2:
            last = last[:-1]
        lines = [*lines[: _MAX_CAPTION_LINES - 1], last + "..."]
    return lines


def _text_width(text: str) -> int:
    (width, _), _ = cv2.getTextSize(text, _FONT, _FONT_SCALE, 1)
    return int(width)


def save_figure(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path
