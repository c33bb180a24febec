"""Aligned faces in, unit-length identity embeddings out.

``create_embedder`` turns a Hydra ``model`` config (``conf/model/*.yaml``) into an
``Embedder``; the embedder owns preprocessing, batching, device placement, mixed precision and
flip fusion so that every caller compares embeddings produced the same way.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bench.models.edgeface import (
    EMBEDDING_DIM,
    INPUT_SIZE,
    VARIANTS,
    count_parameters,
    load_edgeface,
    weights_path,
)

PRECISIONS: dict[str, torch.dtype] = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
CONFIG_KEYS = frozenset({"name", "arch", "rank_ratio", "quantized", "path", "flip"})


class Embedder:
    """A loaded recognition network plus the exact recipe that feeds it.

    ``embed`` takes ``(N, 112, 112, 3)`` ``uint8`` RGB faces and returns ``(N, 512)`` float32
    rows of unit L2 norm, so a cosine similarity is a plain dot product. A face's embedding does
    not depend on the batch it came in (int8 models therefore run one face per forward).
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        name: str,
        arch: str,
        weights: Path,
        quantized: bool = False,
        rank_ratio: float | None = None,
        flip: bool = False,
        device: str = "cpu",
        precision: str = "fp32",
        batch_size: int = 128,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.model = model.eval()
        self.name = name
        self.arch = arch
        self.weights = weights
        self.quantized = quantized
        self.rank_ratio = rank_ratio
        self.flip = flip
        #: The device that actually runs the model, e.g. ``"cpu"`` or ``"cuda:0"``.
        self.device = device
        self.precision = precision
        self.batch_size = batch_size
        self.num_parameters = count_parameters(model)

    def embed(self, faces: np.ndarray) -> np.ndarray:
        """Embed aligned faces; see the class docstring for shapes."""
        faces = np.asarray(faces)
        expected = (INPUT_SIZE, INPUT_SIZE, 3)
        if faces.ndim != 4 or faces.shape[1:] != expected:
            raise ValueError(f"faces must be (N, {INPUT_SIZE}, {INPUT_SIZE}, 3) RGB, got shape {faces.shape}")
        if faces.dtype != np.uint8:
            # Refused rather than guessed: a float image in [0, 1] would be silently mis-scaled.
            raise ValueError(f"faces must be uint8 (0..255), got {faces.dtype}")
        out = np.empty((len(faces), EMBEDDING_DIM), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(faces), self.batch_size):
                batch = faces[start : start + self.batch_size]
                out[start : start + len(batch)] = self._embed_batch(batch)
        return out

    def _embed_batch(self, faces: np.ndarray) -> np.ndarray:
        # uint8 crosses to the device (4x less traffic than float), then NHWC -> NCHW and
        # (x/255 - 0.5) / 0.5, the normalisation EdgeFace was trained with.
        x = torch.from_numpy(np.ascontiguousarray(faces)).to(self.device)
        x = x.permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0).contiguous()
        with self._autocast():
            features = self._forward(x)
            if self.flip:
                # Flip fusion: sum with the mirrored face's embedding (before normalising), a
                # cheap test-time augmentation that the EdgeFace numbers "with flip" use.
                features = features + self._forward(torch.flip(x, dims=[3]))
        return F.normalize(features, dim=1).cpu().numpy()

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.quantized:
            # Dynamic int8 picks each linear layer's activation scale from the whole input
            # tensor, i.e. from every face in the batch: batched, a face's embedding would
            # depend on its neighbours (cosine down to ~0.93 against itself on LFW). One face
            # per forward keeps scores reproducible; on one CPU thread it costs ~20% more time,
            # with several threads more, as such small forwards wait on thread barriers.
            return torch.cat([self.model(x[i : i + 1]).float() for i in range(len(x))])
        return self.model(x).float()

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.precision == "fp32":
            return contextlib.nullcontext()
        device_type = torch.device(self.device).type
        return torch.autocast(device_type=device_type, dtype=PRECISIONS[self.precision])

    def describe(self) -> dict[str, str]:
        """What actually ran, logged with the run."""
        return {
            "model": self.name,
            "model_arch": self.arch,
            "model_rank_ratio": "none" if self.rank_ratio is None else str(self.rank_ratio),
            "model_params": str(self.num_parameters),
            "model_quantized": str(self.quantized).lower(),
            "model_flip": str(self.flip).lower(),
            "model_device": self.device,
            "model_precision": self.precision,
            "model_batch_size": str(self.batch_size),
            "model_weights": str(self.weights),
        }

    def __repr__(self) -> str:
        return f"Embedder({', '.join(f'{k}={v}' for k, v in self.describe().items())})"


def list_models() -> list[str]:
    """The published EdgeFace variants (each has ``conf/model/<name>.yaml``)."""
    return sorted(VARIANTS)


def create_embedder(
    cfg: Mapping[str, Any], device: str = "cpu", precision: str = "fp32", batch_size: int = 128
) -> Embedder:
    """Build an ``Embedder`` from a ``model`` config group entry.

    Keys: ``name`` (required; also the asset name), ``arch``, ``rank_ratio``, ``quantized``,
    ``path``, ``flip``. For a published variant the architecture keys default to its known
    layout; given keys win. Settings are checked before any weights load so a bad combination
    fails in milliseconds with a message that says what to change.
    """
    unknown = set(cfg) - CONFIG_KEYS
    if unknown:
        raise ValueError(f"unknown model config keys {sorted(unknown)}; allowed: {sorted(CONFIG_KEYS)}")
    if not cfg.get("name"):
        raise ValueError("the model config needs a `name`")
    name = str(cfg["name"])
    variant = VARIANTS.get(name)
    arch = cfg.get("arch") or (variant.arch if variant else None)
    if arch is None:
        raise ValueError(
            f"model {name!r} is not a published variant ({', '.join(list_models())}); set `arch`"
        )
    rank_ratio = cfg.get("rank_ratio", variant.rank_ratio if variant else None)
    rank_ratio = None if rank_ratio is None else float(rank_ratio)
    quantized = bool(cfg.get("quantized", variant.quantized if variant else False))
    flip = bool(cfg.get("flip", False))

    resolved_device = _resolve_device(device, quantized=quantized, name=name)
    _check_precision(precision, resolved_device, quantized=quantized)

    weights = weights_path(name, cfg.get("path"))
    model = load_edgeface(arch, weights, rank_ratio=rank_ratio, quantized=quantized).to(resolved_device)
    return Embedder(
        model,
        name=name,
        arch=arch,
        weights=weights,
        quantized=quantized,
        rank_ratio=rank_ratio,
        flip=flip,
        device=resolved_device,
        precision=precision,
        batch_size=batch_size,
    )


def _resolve_device(device: str, *, quantized: bool, name: str) -> str:
    """Validate ``device`` and pin ``"cuda"`` to a concrete index for the run record.

    The quantised check comes first: it is a property of the model, true on any machine, so
    it should not hide behind "CUDA is not available" on a CPU-only host.
    """
    try:
        kind = torch.device(device).type
    except RuntimeError as error:
        raise ValueError(f"unknown device {device!r}; use 'cpu', 'cuda' or 'cuda:N'") from error
    if kind == "cpu":
        return "cpu"
    if kind != "cuda":
        raise ValueError(f"unsupported device {device!r}; use 'cpu', 'cuda' or 'cuda:N'")
    if quantized:
        raise ValueError(
            f"{name} is a dynamic int8 model, and PyTorch's dynamic int8 kernels run on the CPU only; "
            "use device=cpu, or a float model such as model=edgeface_xs_gamma_06 on CUDA"
        )
    if not torch.cuda.is_available():
        raise RuntimeError(
            f"device={device!r} was asked for, but CUDA is not available to this PyTorch "
            f"(torch {torch.__version__}, built for CUDA {torch.version.cuda}); use device=cpu"
        )
    index = torch.device(device).index
    return f"cuda:{torch.cuda.current_device() if index is None else index}"


def _check_precision(precision: str, device: str, *, quantized: bool) -> None:
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")
    if device == "cpu" and precision == "fp16":
        raise ValueError("precision=fp16 is not supported on the CPU; use fp32 or bf16 there, fp16 on CUDA")
    if quantized and precision != "fp32":
        raise ValueError(
            "dynamic int8 models already compute their linear layers in int8 and take fp32 input; "
            f"use precision=fp32 with them, not {precision}"
        )
