"""Face recognition models: EdgeFace variants behind one ``Embedder`` interface."""

from bench.models.edgeface import EMBEDDING_DIM
from bench.models.embedder import (
    BACKENDS,
    Embedder,
    Forward,
    OnnxForward,
    TorchForward,
    create_embedder,
    list_models,
)

__all__ = [
    "BACKENDS",
    "EMBEDDING_DIM",
    "Embedder",
    "Forward",
    "OnnxForward",
    "TorchForward",
    "create_embedder",
    "list_models",
]
