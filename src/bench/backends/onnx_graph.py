"""ONNX graphs exported at one input size, edited to run at any batch and input size.

PyTorch exports ``view``/``reshape`` calls with the sizes they saw as constants: a ShuffleNet
channel shuffle in a graph exported at 1 x 3 x 640 x 640 reshapes to ``[1, 2, 32, 80, 80]``, so
the graph refuses every other batch and size although no weight depends on them. Each such
reshape gets its batch and spatial sizes from its input's shape at run time instead; its other
entries (channel groups, ``-1``) stay. Nothing else changes, so at the export's own size the edited
graph computes exactly what the original does (checked in the tests).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bench.assets.derived import derived_file, is_onnx_model

if TYPE_CHECKING:
    import onnx

#: Bump when :func:`free_input_size` would write a different graph.
REVISION = 1


def any_size_graph(weights: Path) -> Path:
    """The cached copy of ``weights`` whose batch, height and width are free; made on first use."""
    import onnx  # only the ONNX backends need it, and only at load

    return derived_file(
        weights,
        free_input_size,
        recipe=f"any input size {REVISION}, onnx {onnx.__version__}",
        check=is_onnx_model,
    )


def free_input_size(source: Path, destination: Path) -> None:
    """Write ``source`` with every size-bound reshape made relative to its input (see above)."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(source))
    graph = model.graph
    shapes = _reshape_input_shapes(model)
    constants = {item.name: numpy_helper.to_array(item) for item in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            constants[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)

    def constant(name: str, values: list[int]) -> str:
        graph.initializer.append(numpy_helper.from_array(np.array(values, dtype=np.int64), name))
        return name

    nodes = []
    for node in graph.node:
        target = constants.get(node.input[1]) if node.op_type == "Reshape" else None
        if target is not None and _size_bound(target, shapes[node.input[0]]):
            base = f"{node.output[0]}/any_size"
            nodes += [
                helper.make_node("Shape", [node.input[0]], [f"{base}/shape"]),
                helper.make_node(
                    "Slice",
                    [f"{base}/shape", constant(f"{base}/0", [0]), constant(f"{base}/1", [1])],
                    [f"{base}/batch"],
                ),
                helper.make_node(
                    "Slice",
                    [
                        f"{base}/shape",
                        constant(f"{base}/-2", [-2]),
                        constant(f"{base}/end", [np.iinfo(np.int64).max]),
                    ],
                    [f"{base}/spatial"],
                ),
                helper.make_node(
                    "Concat",
                    [f"{base}/batch", constant(f"{base}/middle", target[1:-2].tolist()), f"{base}/spatial"],
                    [f"{base}/target"],
                    axis=0,
                ),
            ]
            node = onnx.NodeProto.FromString(node.SerializeToString())  # a copy: the list is rebuilt
            node.input[1] = f"{base}/target"
        nodes.append(node)
    del graph.node[:]
    graph.node.extend(nodes)
    used = {name for node in graph.node for name in node.input}
    kept = [item for item in graph.initializer if item.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    dims = graph.input[0].type.tensor_type.shape.dim
    dims[0].dim_param, dims[2].dim_param, dims[3].dim_param = "batch", "height", "width"
    for output in graph.output:
        for axis, dim in enumerate(output.type.tensor_type.shape.dim):
            dim.dim_param = f"{output.name}_{axis}"
    del graph.value_info[:]  # intermediate shapes inferred for the export's size
    onnx.checker.check_model(model)
    onnx.save(model, str(destination))


def _size_bound(target: np.ndarray, input_shape: list[int]) -> bool:
    """A reshape whose leading entry is the export's batch of 1 and whose last two entries are
    its input's spatial size, as a channel shuffle's or a detection head's."""
    return (
        len(target) >= 4
        and len(input_shape) >= 4
        and target[0] == input_shape[0] == 1
        and target[-2:].tolist() == input_shape[-2:]
    )


def _reshape_input_shapes(model: onnx.ModelProto) -> dict[str, list[int]]:
    """The shape of every reshape's input, run once at the graph's own input size: ONNX's static
    shape inference loses them behind the ``Shape``/``Slice`` arithmetic of exported graphs."""
    import onnx
    import onnxruntime as ort
    from onnx import helper

    probe = onnx.ModelProto.FromString(model.SerializeToString())
    names = [node.input[0] for node in probe.graph.node if node.op_type == "Reshape"]
    probe.graph.output.extend(helper.make_empty_tensor_value_info(name) for name in names)
    options = ort.SessionOptions()
    options.log_severity_level = 3  # unused initializers of the export are not news
    session = ort.InferenceSession(probe.SerializeToString(), options, providers=["CPUExecutionProvider"])
    feed = {item.name: np.zeros(item.shape, np.float32) for item in session.get_inputs()}
    return {name: list(value.shape) for name, value in zip(names, session.run(names, feed), strict=True)}
