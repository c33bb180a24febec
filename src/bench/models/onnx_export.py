"""EdgeFace as an ONNX graph for ONNX Runtime, exported once and cached.

On the CPU, ONNX Runtime runs the float EdgeFace models ~1.5x faster than PyTorch eager at the
same numbers (max abs difference ~4e-7). The graph is a pure function of the weights file, the
network layout, the torch version (the exporter) and the opset, so a hash of those names the
cached file: a changed input gives a new file, never a stale one. The file is written under a
temporary name in the same folder and moved into place with ``os.replace`` (atomic on one file
system), so a process exporting concurrently, or one killed mid-export, never leaves a
half-written graph where another process would load it.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

from bench.assets.resolver import cache_root, sha256_of
from bench.models.edgeface import INPUT_SIZE

OPSET = 17
INPUT_NAME = "x"
OUTPUT_NAME = "y"


def onnx_cache_dir() -> Path:
    """Where exported graphs live: ``onnx/`` in the project's (git-ignored) asset cache."""
    return cache_root() / "onnx"


def onnx_path_for(weights: Path, arch: str, rank_ratio: float | None) -> Path:
    """The cache file for this exact model and exporter; see the module docstring for the key."""
    key = "\n".join(
        [sha256_of(weights), arch, repr(rank_ratio), torch.__version__, str(OPSET), INPUT_NAME, OUTPUT_NAME]
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return onnx_cache_dir() / f"{weights.stem}-{digest}.onnx"


def export_onnx(model: nn.Module, weights: Path, arch: str, rank_ratio: float | None) -> Path:
    """The cached graph of ``model`` (float, on the CPU, loaded from ``weights``); exported on first use."""
    target = onnx_path_for(weights, arch, rank_ratio)
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}.", suffix=".tmp")
    os.close(handle)
    try:
        # Traced at batch 2, not 1, so no batch-1 shape can be baked into the graph as a constant.
        example = torch.zeros(2, 3, INPUT_SIZE, INPUT_SIZE)
        with _quiet_legacy_exporter():
            torch.onnx.export(
                model.eval(),
                (example,),
                temporary,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: {0: "n"}, OUTPUT_NAME: {0: "n"}},
                dynamo=False,
                opset_version=OPSET,
            )
        os.chmod(temporary, 0o644)  # mkstemp's 0600 would keep a shared cache private to one user
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


@contextmanager
def _quiet_legacy_exporter() -> Iterator[None]:
    """Silence the two deprecation notices of the TorchScript exporter. It is chosen on purpose:
    it needs no network or extra packages and exports these models in about a second, and the
    graph is checked against PyTorch by the tests."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore",
            message=r"You are using the legacy TorchScript-based ONNX export",
            category=DeprecationWarning,
        )
        warnings.filterwarnings(
            "ignore",
            message=r"The feature will be removed",
            category=DeprecationWarning,
            module=r"torch\.onnx\.",
        )
        yield
