"""torch.hub entry points, one per published EdgeFace variant:

    model = torch.hub.load("/path/to/checkout", "edgeface_xs_gamma_06", source="local")

Each returns ``bench.models.create_model(name, pretrained)``: the network in eval mode, its
weights found by the project's asset resolver (``pretrained=False``: untrained; ``path=``: a
weights file of your own).
"""

import sys
from collections.abc import Callable
from pathlib import Path

from torch import nn

# A checkout used through torch.hub need not be installed: import the package from its source.
sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))

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
