"""EdgeFace as a recognition family: its published weights, its models and its factory.

Registered at start-up, so this module imports no torch: the factory and the precision rule
(``bench.models.embedder``) are imported when first called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench.config import ModelConfig
from bench.models.edgeface_variants import VARIANTS, WEIGHTS, weights_path
from bench.models.registry import ModelFamily
from bench.models.spec import InputSpec
from bench.registry import Lazy, Requirements

if TYPE_CHECKING:
    from pathlib import Path

    from bench.plugins import PluginRegistry


def _weights(model: ModelConfig) -> Path:
    return weights_path(model.name, model.path)


EDGEFACE = ModelFamily(
    name="edgeface",
    create=Lazy("bench.models.embedder:create_edgeface_embedder"),
    models={name: Requirements((name,), ("torch", "timm")) for name in VARIANTS},
    weights=_weights,
    precision=Lazy("bench.models.embedder:edgeface_precision"),
    input=InputSpec(size=112, channels="RGB", mean=127.5, std=127.5),
    embedding_dim=512,
    template="arcface_112",
    backend="torch",
    exportable=True,
    reference_model="edgeface_xs_gamma_06",
)


def register(registry: PluginRegistry) -> None:
    for asset in WEIGHTS.values():
        registry.asset(asset)
    registry.model_family(EDGEFACE)
