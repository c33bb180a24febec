"""Face recognition models: EdgeFace variants behind one ``Embedder`` interface."""

from bench.models.edgeface import EMBEDDING_DIM, VARIANTS, create_model
from bench.models.embedder import (
    Embedder,
    Forward,
    OnnxForward,
    TorchForward,
    create_embedder,
    list_models,
    model_config,
    model_layout,
)

__all__ = [
    "EMBEDDING_DIM",
    "VARIANTS",
    "Embedder",
    "Forward",
    "OnnxForward",
    "TorchForward",
    "create_embedder",
    "create_model",
    "list_models",
    "model_config",
    "model_layout",
]
