"""An example ``bench`` plugin: one detector and one recognition family from outside the package.

* ``detector=example_dlib_hog``: bench's ``dlib_hog`` (dlib's HOG detector and 5-point shape
  predictor) aligned on the two eye centres alone, without the nose base: an ablation a plugin
  adds without touching bench.
* ``model=example_edgeface_xs_tflite``: EdgeFace-XS (gamma=0.6) exported to fp16 TFLite, run by LiteRT
  one face at a time: how much the on-device format costs in accuracy.

bench imports this module at every start-up, so it stays light: its options, weights and
requirements here, its factories named by ``Lazy`` and imported when a run builds them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from bench.assets import Asset, resolve
from bench.config import ModelConfig, Precision
from bench.detectors.dlib import PREDICTOR, DlibHogOptions
from bench.models import EmbedSettings, InputSpec, ModelFamily
from bench.models.registry import Capabilities
from bench.plugins import PluginRegistry
from bench.registry import Lazy, Requirements

if TYPE_CHECKING:
    from bench.runtime import Runtime

#: BSD-3-Clause (EdgeFace, Idiap); the fp16 export EdgeFace's authors published.
WEIGHTS = Asset(
    "edgeface_xs_gamma_06_fp16_tflite",
    "weights/edgeface/edgeface_xs_gamma_06_fp16.tflite",
    sha256="2a292d65f1fd7f7b8f8bd73c979464aa74677fd7e85b371c101f390502b9d745",
)
MODEL_NAME = "example_edgeface_xs_tflite"
INPUT = InputSpec(size=112, channels="RGB", mean=127.5, std=127.5)


def weights(model: ModelConfig) -> Path:
    return resolve(WEIGHTS, model.path)


def precision(model: ModelConfig, settings: EmbedSettings, runtime: Runtime) -> str:
    return "fp16 weights, fp32 activations (LiteRT)"


EDGEFACE_TFLITE = ModelFamily(
    name="example_edgeface_tflite",
    create=Lazy("bench_example_plugin.tflite_model:create"),
    models={MODEL_NAME: Requirements((WEIGHTS.name,), ("ai_edge_litert",))},
    weights=weights,
    precision=precision,
    input=INPUT,
    embedding_dim=512,
    template="arcface_112",
    backend="litert",
    # LiteRT runs it on the CPU, with fp16 weights and fp32 activations.
    capabilities=Capabilities(cuda=False, precisions=(Precision.auto, Precision.fp32)),
)


def register(registry: PluginRegistry) -> None:
    """Called once by ``bench.plugins.load_plugins`` through the ``bench.plugins`` entry point."""
    registry.detector(
        "example_dlib_hog",
        Lazy("bench_example_plugin.dlib_hog:EyesOnlyDlibHog"),
        DlibHogOptions,
        Requirements((PREDICTOR.name,), ("dlib",)),
    )
    registry.asset(WEIGHTS)
    registry.model_family(EDGEFACE_TFLITE)
    registry.configs("pkg://bench_example_plugin.conf")
