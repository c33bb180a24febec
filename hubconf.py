"""torch.hub entry points: one per published EdgeFace variant (the PyTorch network), and
``embedder`` for any registered model of any family (SFace, dlib's ResNet, a plugin's):

    model = torch.hub.load("/path/to/checkout", "edgeface_xs_gamma_06", source="local")
    sface = torch.hub.load("/path/to/checkout", "embedder", name="sface_int8", source="local")

A variant's entry returns ``bench.models.create_model(name, pretrained)``: the network in eval
mode, its weights found by the project's asset resolver (``pretrained=False``: untrained;
``path=``: a weights file of your own). ``embedder`` returns ``bench.models.create_embedder``'s
``Embedder``: aligned ``uint8`` faces (its family's template, at ``embedder.input_spec.size``)
in, embeddings out, as the benchmark runs it; families without a PyTorch network have no module.
"""

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch import nn

# A checkout used through torch.hub need not be installed: import the package from its source.
sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))

from bench.cli import prepare
from bench.models import Embedder, create_embedder
from bench.models.edgeface import VARIANTS, create_model

dependencies = ["torch", "timm"]


def _entry_point(name: str) -> Callable[..., nn.Module]:
    def load(pretrained: bool = True, path: str | None = None) -> nn.Module:
        return create_model(name, pretrained=pretrained, path=path)

    load.__name__ = name
    load.__doc__ = f"EdgeFace {name} ({VARIANTS[name].arch}); see bench.models.create_model."
    return load


for _name in VARIANTS:
    globals()[_name] = _entry_point(_name)


def embedder(name: str = "edgeface_xs_gamma_06", **config: Any) -> Embedder:
    """Any registered model by name (``bench list`` shows them), as an ``Embedder``; ``config``
    holds further ``model`` keys (``path``, ``flip``, ``template``...)."""
    prepare()
    return create_embedder({"name": name, **config})
