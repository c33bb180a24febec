"""Face recognition models behind one ``Embedder`` interface, built by their family's factory."""

from bench.models.edgeface import EMBEDDING_DIM, VARIANTS, create_model
from bench.models.embedder import (
    Embedder,
    Forward,
    InputSpec,
    OnnxForward,
    TorchForward,
    model_layout,
)
from bench.models.registry import (
    EmbedSettings,
    ModelFamily,
    create_embedder,
    list_models,
    model_config,
    model_family,
)

__all__ = [
    "EMBEDDING_DIM",
    "VARIANTS",
    "EmbedSettings",
    "Embedder",
    "Forward",
    "InputSpec",
    "ModelFamily",
    "OnnxForward",
    "TorchForward",
    "create_embedder",
    "create_model",
    "list_models",
    "model_config",
    "model_family",
    "model_layout",
]
