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

import timm
import torch
from torch import nn

from bench.models.edgeface_variants import (
    EMBEDDING_DIM,
    INPUT_SIZE,
    VARIANTS,
    WEIGHTS,
    Variant,
    weights_path,
)
from bench.models.lowrank import replace_linear_with_low_rank


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


__all__ = [
    "EMBEDDING_DIM",
    "INPUT_SIZE",
    "VARIANTS",
    "WEIGHTS",
    "EdgeFace",
    "Variant",
    "build_edgeface",
    "count_parameters",
    "create_model",
    "load_edgeface",
    "load_state_dict_file",
    "weights_path",
]
