"""EdgeFace (George et al., IEEE T-BIOM 2024): timm EdgeNeXt backbones with a 512-d head.

The layout mirrors upstream ``otroshi/edgeface`` (``TimmFRWrapperV2``) so that the published
state dicts load with ``strict=True``: the timm model sits under the attribute ``model`` (keys
``model.*``), its classifier is reset to 512 outputs, the "gamma" variants factorise every
linear layer (``bench.models.lowrank``) and the ``_q`` variants are dynamic-int8 quantised.
A strict load is the point: a silently half-loaded recognition network still produces
plausible-looking embeddings, only worse ones.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import timm
import torch
from torch import nn

from bench.assets import Asset, AssetNotFoundError, resolve
from bench.models.lowrank import replace_linear_with_low_rank

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


class EdgeFace(nn.Module):
    """Holds the timm backbone as ``self.model`` so state-dict keys read ``model.*`` as upstream."""

    def __init__(self, arch: str, embedding_dim: int = EMBEDDING_DIM) -> None:
        super().__init__()
        self.arch = arch
        self.model = timm.create_model(arch, pretrained=False, num_classes=embedding_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def build_edgeface(arch: str, rank_ratio: float | None = None, quantized: bool = False) -> nn.Module:
    """The untrained network in the exact module layout of the matching checkpoint.

    Quantisation happens *before* loading because the ``_q`` checkpoints store packed int8
    weights (``_packed_params``), which only a dynamically quantised module can receive.
    """
    model: nn.Module = EdgeFace(arch)
    if rank_ratio is not None:
        if not 0.0 < rank_ratio <= 1.0:
            raise ValueError(f"rank_ratio must be in (0, 1] or null, got {rank_ratio}")
        replace_linear_with_low_rank(model, rank_ratio)
    model.eval()
    if quantized:
        with _quiet_quantization_warnings():
            model = torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)
    return model


@contextmanager
def _quiet_quantization_warnings() -> Iterator[None]:
    """Silence torch's deprecation notices for ``torch.ao.quantization`` and its int8 tensor API,
    raised on every quantised layer built or deserialised; they concern a future torch release
    (where this loader would need torchao), not these files."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"TypedStorage is deprecated", category=UserWarning)
        warnings.filterwarnings("ignore", message=r"torch\.quantize_per_tensor", category=UserWarning)
        warnings.filterwarnings("ignore", message=r"torch\.ao\.quantization is deprecated")
        yield


def load_state_dict_file(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Read a checkpoint with ``weights_only=True`` (no pickled code runs).

    All three local files, the int8 ones included, load this way with torch 2.x: their packed
    parameters are plain tensors, dtypes and tuples.
    """
    with _quiet_quantization_warnings():
        state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise TypeError(f"{path}: expected a state dict, found {type(state).__name__}")
    return state


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


def load_edgeface(
    arch: str, weights: str | os.PathLike[str], rank_ratio: float | None = None, quantized: bool = False
) -> nn.Module:
    """Build the network and load ``weights`` strictly; a layout mismatch is an error, never a warning."""
    model = build_edgeface(arch, rank_ratio=rank_ratio, quantized=quantized)
    state = load_state_dict_file(weights)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise RuntimeError(
            f"{weights} does not fit arch={arch}, rank_ratio={rank_ratio}, quantized={quantized}; "
            f"check the model config.\n{error}"
        ) from error
    return model.eval()


def count_parameters(model: nn.Module) -> int:
    """Learned values, counting the int8 weights of dynamically quantised linears.

    Those weights are packed buffers, not ``nn.Parameter``s, so ``model.parameters()`` alone
    would undercount a ``_q`` model by most of its size.
    """
    total = sum(p.numel() for p in model.parameters())
    for module in model.modules():
        if isinstance(module, torch.ao.nn.quantized.dynamic.Linear):
            weight, bias = module._weight_bias()
            total += weight.numel() + (bias.numel() if bias is not None else 0)
    return total


def create_model(name: str, pretrained: bool = True, path: str | os.PathLike[str] | None = None) -> nn.Module:
    """A published EdgeFace variant (``VARIANTS``) in eval mode, with its weights from the asset
    resolver (or ``path``) when ``pretrained``; untrained otherwise. The library entry point and
    the one ``hubconf.py`` serves to ``torch.hub.load``. It takes ``(N, 3, 112, 112)`` RGB scaled
    to [-1, 1] (``(x / 255 - 0.5) / 0.5``) and returns ``(N, 512)`` unnormalised embeddings."""
    variant = VARIANTS.get(name)
    if variant is None:
        raise ValueError(f"unknown EdgeFace model {name!r}; published: {', '.join(VARIANTS)}")
    if not pretrained:
        return build_edgeface(variant.arch, variant.rank_ratio, variant.quantized)
    weights = weights_path(name, path)
    return load_edgeface(variant.arch, weights, variant.rank_ratio, variant.quantized)
