"""Face recognition models: EdgeFace variants behind one ``Embedder`` interface."""

from bench.models.embedder import Embedder, create_embedder, list_models

__all__ = ["Embedder", "create_embedder", "list_models"]
