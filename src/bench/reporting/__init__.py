"""Figures and summaries of benchmark runs."""

from bench.reporting.comparison import Comparison, MethodRun, compare_runs, varying_labels
from bench.reporting.dashboard import plot_dashboard, plot_faces_by_method
from bench.reporting.plots import plot_roc, plot_roc_curves, save_face_grid

__all__ = [
    "Comparison",
    "MethodRun",
    "compare_runs",
    "plot_dashboard",
    "plot_faces_by_method",
    "plot_roc",
    "plot_roc_curves",
    "save_face_grid",
    "varying_labels",
]
