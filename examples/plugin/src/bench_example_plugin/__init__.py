"""An example ``bench`` plugin: one detector and one recognition family from outside the package.

* ``detector=dlib_hog``: dlib's HOG + linear SVM frontal face detector, with its 5-point shape
  predictor for the eyes (dlib's points are eye corners and the base of the nose, not the nose
  tip of the ArcFace template, so only the two eye centres are given).
* ``model=edgeface_xs_tflite``: EdgeFace-XS (gamma=0.6) exported to fp16 TFLite, run by LiteRT
  one face at a time: how much the on-device format costs in accuracy.
"""

from __future__ import annotations

from bench.plugins import PluginRegistry
from bench.registry import Requirements
from bench_example_plugin.dlib_hog import DlibHogDetector, DlibHogOptions
from bench_example_plugin.tflite_model import EDGEFACE_TFLITE, WEIGHTS


def register(registry: PluginRegistry) -> None:
    """Called once by ``bench.plugins.load_plugins`` through the ``bench.plugins`` entry point."""
    registry.detector("dlib_hog", DlibHogDetector, DlibHogOptions, Requirements(packages=("dlib",)))
    registry.asset(WEIGHTS)
    registry.model_family(EDGEFACE_TFLITE)
    registry.configs("pkg://bench_example_plugin.conf")
