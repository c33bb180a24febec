"""Any recognizer's ONNX graph as a family (``model=onnx``): its config says what the graph is
fed (``model.input``), how wide its embeddings are and how they compare, so a graph made
elsewhere runs on its own crop. ``bench export`` writes EdgeFace's, whose defaults these are."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from bench.assets import AssetNotFoundError
from bench.config import EmbedBackend, ModelConfig, OnnxModelConfig, Precision
from bench.models.registry import Capabilities, ModelFamily
from bench.models.spec import InputSpec
from bench.registry import Lazy, Requirements

if TYPE_CHECKING:
    from bench.plugins import PluginRegistry


def _configure(family: ModelFamily, model: ModelConfig) -> ModelFamily:
    if not isinstance(model, OnnxModelConfig):
        raise ValueError(f"family onnx describes its graph with model=onnx's keys; {model.name} has none")
    given = model.input
    return dataclasses.replace(
        family,
        input=InputSpec(size=given.size, channels=given.channels, mean=given.mean, std=given.std),
        embedding_dim=model.embedding_dim,
        similarity=model.similarity,
        configure=None,
    )


def _graph(model: ModelConfig) -> Path:
    if model.path is None or not Path(model.path).expanduser().is_file():
        raise AssetNotFoundError(f"model={model.name}: the ONNX graph model.path={model.path} does not exist")
    return Path(model.path).expanduser().resolve()


ONNX = ModelFamily(
    name="onnx",
    create=Lazy("bench.models.embedder:create_graph_embedder"),
    models={"onnx": Requirements(packages=("onnxruntime", "onnx"))},
    weights=_graph,
    precision=lambda model, settings, runtime: "fp32",
    input=InputSpec(),
    embedding_dim=512,
    template="arcface_112",
    backend="onnxruntime",
    configure=_configure,
    config_type=OnnxModelConfig,
    # arch and rank_ratio describe a graph made elsewhere (its FLOPs); the graph runs as shipped.
    capabilities=Capabilities(
        backends=(EmbedBackend.auto, EmbedBackend.onnxruntime),
        precisions=(Precision.auto, Precision.fp32),
        torch_options=False,
    ),
)


def register(registry: PluginRegistry) -> None:
    registry.model_family(ONNX)
