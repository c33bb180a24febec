"""Face recognition models: EdgeFace variants behind one ``Embedder`` interface."""

from bench.models.edgeface import EMBEDDING_DIM
from bench.models.embedder import Embedder, create_embedder, list_models

__all__ = ["EMBEDDING_DIM", "Embedder", "create_embedder", "list_models"]
