"""``bench export``: an EdgeFace model as an ONNX graph, checked against PyTorch on real faces.

    bench export model=edgeface_xs_gamma_06 format=onnx [output=FILE] [opset=17] [faces=256]

Any ``model=`` override the benchmark takes selects the model (``model.path=...`` for other
weights). The graph has a dynamic batch axis: input ``x`` ``(N, 3, 112, 112)`` RGB scaled to
[-1, 1], output ``y`` ``(N, 512)`` unnormalised embeddings. It is then run by ONNX Runtime on
``faces`` reference-aligned LFW faces, at that batch and one face at a time, against the PyTorch
model: the per-face cosine of the two embeddings must be at least ``MIN_COSINE``, else the
command fails. The figures are printed and written beside the graph (``<output>.parity.json``).
The file runs in the benchmark as ``model=onnx model.path=FILE``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from bench.assets import resolve
from bench.cli import compose_config
from bench.config import ModelConfig
from bench.data import decode_image, parse_lfw_pairs
from bench.models import create_embedder, model_config, model_family, model_layout
from bench.models.edgeface import count_parameters, load_edgeface, weights_path
from bench.models.embedder import is_onnx_graph
from bench.models.onnx_export import (
    GRAPH_ARCH,
    GRAPH_MODEL,
    GRAPH_PARAMETERS,
    GRAPH_RANK_RATIO,
    OPSET,
    write_onnx,
)

FORMATS = ("onnx",)
#: The least per-face cosine between PyTorch's and the exported graph's embedding accepted.
MIN_COSINE = 0.9999
#: The tool's own options; every other ``key=value`` is a Hydra override of the benchmark's config.
OPTIONS = {"format": "onnx", "output": "", "opset": str(OPSET), "faces": "256"}


@dataclass(frozen=True)
class Parity:
    """The exported graph against PyTorch on the same faces (unit-length embeddings)."""

    faces: int
    min_cosine: float
    mean_cosine: float
    max_abs_difference: float
    #: The largest difference between one face embedded alone and in the full batch.
    batch_one_max_abs_difference: float

    @property
    def passed(self) -> bool:
        return self.min_cosine >= MIN_COSINE


def export_model(model: ModelConfig, output: Path, opset: int = OPSET) -> Path:
    """Write ``model`` (a float EdgeFace) to ``output`` as ONNX, its layout in the metadata. Only
    a family that declares itself ``exportable`` (PyTorch's) is; the others are refused."""
    family = model_family(model)
    if not family.exportable:
        raise ValueError(
            f"model={model.name} is of the {family.name} family, run by {family.backend}: bench export "
            "writes PyTorch families' networks (EdgeFace) as ONNX graphs, and this one has no PyTorch network"
        )
    if is_onnx_graph(model):
        raise ValueError(f"model.path {model.path} is already an ONNX graph")
    arch, rank_ratio, quantized = model_layout(model)
    if quantized:
        raise ValueError(
            f"{model.name} is a PyTorch dynamic-int8 model, which ONNX export does not cover; export a "
            "float model (edgeface_xs_gamma_06, edgeface_s_gamma_05, edgeface_base, edgeface_xxs)"
        )
    network = load_edgeface(arch, weights_path(model.name, model.path), rank_ratio=rank_ratio)
    output.parent.mkdir(parents=True, exist_ok=True)
    metadata = {
        GRAPH_MODEL: model.name,
        GRAPH_ARCH: arch,
        GRAPH_RANK_RATIO: "none" if rank_ratio is None else repr(rank_ratio),
        GRAPH_PARAMETERS: str(count_parameters(network)),
    }
    write_onnx(network, output, opset=opset, metadata=metadata)
    return output


def reference_faces(count: int) -> np.ndarray:
    """The first ``count`` distinct reference-aligned LFW faces of the official pairs."""
    root = resolve("lfw_aligned_112")
    pairs = parse_lfw_pairs(resolve("lfw_pairs"))
    chosen = list(dict.fromkeys(name for pair in pairs for name in (pair.image_a, pair.image_b)))[:count]
    return np.stack([decode_image(root / name, root, 50_000_000) for name in chosen])


def check_parity(model: ModelConfig, graph: Path, faces: np.ndarray) -> Parity:
    """Embed ``faces`` with the PyTorch model and with ``graph`` on ONNX Runtime (fp32, CPU)."""
    torch_embedder = create_embedder(model, backend="torch", precision="fp32", batch_size=len(faces))
    graph_config = {"name": model.name, "path": str(graph), "flip": model.flip}
    graph_embedder = create_embedder(graph_config, precision="fp32", batch_size=len(faces))
    reference = torch_embedder.embed(faces)
    exported = graph_embedder.embed(faces)
    graph_embedder.batch_size = 1
    one_at_a_time = graph_embedder.embed(faces)
    cosine = np.einsum("ij,ij->i", reference, exported)
    return Parity(
        faces=len(faces),
        min_cosine=float(cosine.min()),
        mean_cosine=float(cosine.mean()),
        max_abs_difference=float(np.abs(reference - exported).max()),
        batch_one_max_abs_difference=float(np.abs(one_at_a_time - exported).max()),
    )


def main(argv: Sequence[str] | None = None) -> None:
    options, overrides = _split(list(sys.argv[1:] if argv is None else argv))
    if options["format"] not in FORMATS:
        raise SystemExit(
            f"bench export: format={options['format']} is not supported; formats: {', '.join(FORMATS)}"
        )
    model = model_config(dict(compose_config(overrides).model))
    output = Path(options["output"] or f"exports/{model.name}.onnx")
    try:
        export_model(model, output, int(options["opset"]))
    except ValueError as error:
        raise SystemExit(f"bench export: {error}") from None
    parity = check_parity(model, output, reference_faces(int(options["faces"])))
    report = output.with_suffix(".parity.json")
    figures = {"model": model.name, "graph": str(output), "opset": int(options["opset"])}
    figures |= {"min_cosine_required": MIN_COSINE, **asdict(parity)}
    report.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"{output}: {model.name}, opset {options['opset']}, dynamic batch")
    print(
        f"against PyTorch on {parity.faces} reference-aligned LFW faces: cosine min {parity.min_cosine:.7f}, "
        f"mean {parity.mean_cosine:.7f}; max |difference| {parity.max_abs_difference:.2e}; "
        f"one face at a time vs batched: {parity.batch_one_max_abs_difference:.2e} ({report})"
    )
    if not parity.passed:
        raise SystemExit(
            f"bench export: the graph's cosine to PyTorch fell to {parity.min_cosine:.6f} < {MIN_COSINE}"
        )
    print(f"run it: python -m bench model=onnx model.path={output}")


def _split(arguments: list[str]) -> tuple[dict[str, str], list[str]]:
    options = dict(OPTIONS)
    overrides = []
    for argument in arguments:
        key, _, value = argument.partition("=")
        if key in OPTIONS:
            options[key] = value
        else:
            overrides.append(argument)
    return options, overrides
