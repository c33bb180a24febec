"""Figures and summaries of benchmark runs."""

from bench.reporting.plots import plot_roc, plot_roc_curves, save_face_grid

__all__ = ["plot_roc", "plot_roc_curves", "save_face_grid"]
