"""The published EdgeFace models: their names, architectures and weights, without torch.

What registering the family and resolving its weights need (``edgeface_family``); the networks
themselves are built by ``edgeface``, which re-exports these names.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from bench.assets import Asset, AssetNotFoundError, resolve

EMBEDDING_DIM = 512
INPUT_SIZE = 112


@dataclass(frozen=True)
class Variant:
    """One published EdgeFace model; ``name`` is also its asset name."""

    name: str
    arch: str
    rank_ratio: float | None = None
    quantized: bool = False


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant("edgeface_xs_gamma_06", "edgenext_x_small", rank_ratio=0.6),
        Variant("edgeface_xs_q", "edgenext_x_small", quantized=True),
        Variant("edgeface_xxs_q", "edgenext_xx_small", quantized=True),
        Variant("edgeface_s_gamma_05", "edgenext_small", rank_ratio=0.5),
        Variant("edgeface_base", "edgenext_base"),
        Variant("edgeface_xxs", "edgenext_xx_small"),
    )
}


_URL = "https://github.com/otroshi/edgeface/raw/main/checkpoints/{}.pt"
#: BSD-3-Clause, Idiap Research Institute. Variant name -> its published weights (a sha256 where
#: the file is here to check it against).
WEIGHTS: dict[str, Asset] = {
    name: Asset(name, f"weights/edgeface/{name}.pt", sha256=digest, url=_URL.format(name))
    for name, digest in (
        ("edgeface_xs_gamma_06", "e4e0c5732cbdb83a585a60c982e2be17245b2cba802d6f27a2aec8f430641a14"),
        ("edgeface_xs_q", "a31314377876ab9fa2a75e5638bc528efe79fd17d5c9c0a228fb7f846d7581a6"),
        ("edgeface_xxs_q", "46be7cc7e8d6e23501c0627fe5fbef101922ee9b85ccbef476987ab1a320b053"),
        ("edgeface_s_gamma_05", None),
        ("edgeface_base", None),
        ("edgeface_xxs", None),
    )
}


def weights_path(name: str, path: str | os.PathLike[str] | None = None) -> Path:
    """The weights file for ``name``: ``path`` if given, else the asset resolver's answer."""
    if name in WEIGHTS:
        return resolve(WEIGHTS[name], path)
    if path is None:
        raise AssetNotFoundError(
            f"model {name!r} is not a known asset ({', '.join(sorted(VARIANTS))}); "
            "give its weights file as `path` in the model config"
        )
    explicit = Path(path).expanduser()
    if not explicit.is_file():
        raise AssetNotFoundError(f"{name}: the configured path {explicit} does not exist")
    return explicit.resolve()
