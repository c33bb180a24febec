"""Face recognition models behind one ``Embedder`` interface, built by their family's factory.

Importing this package imports no torch: ``bench.plugins`` registers the EdgeFace family
(``edgeface_family``) at start-up, which runs this ``__init__``. The registry and the light
descriptions are imported here; the embedder and the networks (torch, timm) when first named.
"""

from typing import TYPE_CHECKING

from bench.models.edgeface_variants import EMBEDDING_DIM, VARIANTS
from bench.models.registry import (
    EmbedSettings,
    ModelFamily,
    create_embedder,
    list_models,
    model_config,
    model_family,
)
from bench.models.spec import InputSpec
from bench.registry import lazy_attributes

if TYPE_CHECKING:
    from bench.models.edgeface import create_model
    from bench.models.embedder import Embedder, Forward, OnnxForward, TorchForward, model_layout

__getattr__ = lazy_attributes(
    __name__,
    {
        "create_model": "bench.models.edgeface:create_model",
        **{
            name: f"bench.models.embedder:{name}"
            for name in ("Embedder", "Forward", "OnnxForward", "TorchForward", "model_layout")
        },
    },
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
