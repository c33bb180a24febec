"""EdgeFace as an ONNX graph for ONNX Runtime, exported once and cached.

On the CPU, ONNX Runtime runs the float EdgeFace models ~1.5x faster than PyTorch eager at the
same numbers (max abs difference ~4e-7). The graph is a pure function of the weights file, the
network layout, the torch version (the exporter) and the opset, so it is a derived file of the
weights (``bench.assets.derived``): named by a hash of those, written atomically, made once.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

from bench.assets.derived import derived_file, derived_path, is_onnx_model
from bench.assets.resolver import cache_root
from bench.models.edgeface import INPUT_SIZE

OPSET = 17
INPUT_NAME = "x"
OUTPUT_NAME = "y"
#: ``metadata_props`` keys of an exported graph: the layout a run that loads the file reports.
GRAPH_MODEL = "bench.model"
GRAPH_ARCH = "bench.arch"
GRAPH_RANK_RATIO = "bench.rank_ratio"
GRAPH_PARAMETERS = "bench.parameters"


def onnx_cache_dir() -> Path:
    """Where exported graphs live: ``onnx/`` in the project's (git-ignored) asset cache."""
    return cache_root() / "onnx"


def onnx_path_for(weights: Path, arch: str, rank_ratio: float | None) -> Path:
    """The cache file for this exact model and exporter; see the module docstring for the key."""
    return derived_path(weights, recipe=_recipe(arch, rank_ratio), folder=onnx_cache_dir(), suffix=".onnx")


def export_onnx(model: nn.Module, weights: Path, arch: str, rank_ratio: float | None) -> Path:
    """The cached graph of ``model`` (float, on the CPU, loaded from ``weights``); exported on first use."""
    return derived_file(
        weights,
        lambda _weights, destination: write_onnx(model, destination),
        recipe=_recipe(arch, rank_ratio),
        folder=onnx_cache_dir(),
        suffix=".onnx",
        check=is_onnx_model,
    )


def write_onnx(
    model: nn.Module, destination: Path, *, opset: int = OPSET, metadata: Mapping[str, str] | None = None
) -> None:
    """Export ``model`` (float, on the CPU) to ``destination`` with a dynamic batch axis, input
    ``x`` ``(N, 3, 112, 112)`` and output ``y`` ``(N, 512)``; ``metadata`` goes into the graph's
    ``metadata_props`` (what a run that loads the file reports as its layout)."""
    # Traced at batch 2, not 1, so no batch-1 shape can be baked into the graph as a constant.
    example = torch.zeros(2, 3, INPUT_SIZE, INPUT_SIZE)
    with _quiet_legacy_exporter():
        torch.onnx.export(
            model.eval(),
            (example,),
            str(destination),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "n"}, OUTPUT_NAME: {0: "n"}},
            dynamo=False,
            opset_version=opset,
        )
    if metadata:
        import onnx

        graph = onnx.load(str(destination))
        onnx.helper.set_model_props(graph, dict(metadata))
        onnx.save(graph, str(destination))


def graph_parameters(path: Path) -> int:
    """The values of a graph's float initialisers: its parameters, give or take constants that
    the exporter folded (e.g. positional encodings)."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    floats = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.BFLOAT16}
    return sum(math.prod(tensor.dims) for tensor in graph.initializer if tensor.data_type in floats)


def graph_metadata(path: Path) -> dict[str, str]:
    """The ``metadata_props`` of an ONNX file (empty for a graph exported elsewhere)."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False)
    return {prop.key: prop.value for prop in graph.metadata_props}


def _recipe(arch: str, rank_ratio: float | None) -> str:
    """Everything besides the weights that the graph depends on."""
    return "\n".join([arch, repr(rank_ratio), torch.__version__, str(OPSET), INPUT_NAME, OUTPUT_NAME])


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
