"""``bench export``: an EdgeFace model as an ONNX graph, checked against PyTorch on real faces.

    bench export model=edgeface_xs_gamma_06 format=onnx [output=FILE] [opset=17] [faces=256]

Any ``model=`` override the benchmark takes selects the model (``model.path=...`` for other
weights). The graph has a dynamic batch axis: input ``x`` ``(N, 3, 112, 112)`` RGB scaled to
[-1, 1], output ``y`` ``(N, 512)`` unnormalised embeddings. It is then run by ONNX Runtime on
``faces`` reference-aligned LFW faces, at that batch and one face at a time, against the PyTorch
model: the per-face cosine of the two embeddings must be at least ``MIN_COSINE``, else the
command fails. The figures are printed and written beside the graph (``<output>.parity.json``).
The file runs in the benchmark as ``model=onnx model.path=FILE``. The options, and whether both
files can be written without replacing an input of the export, are checked before any work; each
file is replaced whole or not at all (``bench.atomic_write``).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from bench.assets import resolve
from bench.atomic_write import write_atomically
from bench.cli import compose_config
from bench.config import ModelConfig
from bench.config.validate import is_ascii_integer
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


def exportable_weights(model: ModelConfig) -> Path:
    """The weights file of ``model`` if ``bench export`` can write it as a graph: only a family
    that declares itself ``exportable`` (PyTorch's), and of it a float model; else a ``ValueError``."""
    family = model_family(model)
    if not family.exportable:
        raise ValueError(
            f"model={model.name} is of the {family.name} family, run by {family.backend}: bench export "
            "writes PyTorch families' networks (EdgeFace) as ONNX graphs, and this one has no PyTorch network"
        )
    if is_onnx_graph(model):
        raise ValueError(f"model.path {model.path} is already an ONNX graph")
    _, _, quantized = model_layout(model)
    if quantized:
        raise ValueError(
            f"{model.name} is a PyTorch dynamic-int8 model, which ONNX export does not cover; export a "
            "float model (edgeface_xs_gamma_06, edgeface_s_gamma_05, edgeface_base, edgeface_xxs)"
        )
    return weights_path(model.name, model.path)


def check_destination(path: Path, what: str, inputs: Mapping[Path, str]) -> None:
    """Refuse, before anything is written, a destination that cannot become a file (a folder, a
    path under a file or a read-only folder), or that is one of ``inputs`` (file -> what it is)
    by its path, a link or a hard link: replacing it would destroy what the export reads."""
    if path.is_dir():
        raise ValueError(f"{what} is a folder; name the file to write")
    if path.exists():
        written = path.stat()
        for source, role in inputs.items():
            if source.exists() and os.path.samestat(written, source.stat()):
                raise ValueError(
                    f"{what} is {role} ({source}): writing there would destroy it; choose another output="
                )
    folder = path.parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        raise ValueError(f"{what} cannot be written: {folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"{what} cannot be written: the folder {folder} is not writable")


def export_model(model: ModelConfig, output: Path, opset: int = OPSET) -> Path:
    """Write ``model`` (a float EdgeFace, see ``exportable_weights``) to ``output`` as ONNX, its
    layout in the metadata. ``output`` is replaced whole or not at all, and never if it is the
    weights."""
    weights = exportable_weights(model)
    check_destination(output, f"output={output}", {weights: "the model's weights"})
    arch, rank_ratio, _ = model_layout(model)
    network = load_edgeface(arch, weights, rank_ratio=rank_ratio)
    metadata = {
        GRAPH_MODEL: model.name,
        GRAPH_ARCH: arch,
        GRAPH_RANK_RATIO: "none" if rank_ratio is None else repr(rank_ratio),
        GRAPH_PARAMETERS: str(count_parameters(network)),
    }
    return write_atomically(output, lambda path: write_onnx(network, path, opset=opset, metadata=metadata))


def reference_images() -> list[Path]:
    """Every distinct reference-aligned LFW face of the official pairs, in the pairs' order."""
    root = resolve("lfw_aligned_112")
    pairs = parse_lfw_pairs(resolve("lfw_pairs"))
    return [
        root / name for name in dict.fromkeys(name for pair in pairs for name in (pair.image_a, pair.image_b))
    ]


def reference_faces(count: int) -> np.ndarray:
    """The first ``count`` distinct reference-aligned LFW faces of the official pairs."""
    root = resolve("lfw_aligned_112")
    return np.stack([decode_image(path, root, 50_000_000) for path in reference_images()[:count]])


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
    report = output.with_suffix(".parity.json")
    try:
        opset = _whole_number(options, "opset", 1)
        images = reference_images()
        faces = _whole_number(options, "faces", 1, len(images))
        inputs = {exportable_weights(model): "the model's weights", resolve("lfw_pairs"): "LFW's pairs list"}
        inputs |= {image: "a reference face" for image in images[:faces]}
        check_destination(output, f"output={output}", inputs)
        check_destination(report, f"the parity report {report} of output={output}", inputs)
    except (ValueError, OSError) as error:  # OSError: an asset not found, named by the resolver
        raise SystemExit(f"bench export: {error}") from None
    try:
        export_model(model, output, opset)
    except ValueError as error:
        raise SystemExit(f"bench export: {error}") from None
    except OSError as error:
        raise SystemExit(
            f"bench export: writing {output} failed, and it is left as it was: {error}"
        ) from None
    parity = check_parity(model, output, reference_faces(faces))
    figures = {"model": model.name, "graph": str(output), "opset": opset}
    figures |= {"min_cosine_required": MIN_COSINE, **asdict(parity)}
    write_atomically(report, lambda path: path.write_text(json.dumps(figures, indent=2) + "\n"))
    print(f"{output}: {model.name}, opset {opset}, dynamic batch")
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


def _whole_number(options: Mapping[str, str], name: str, least: int, most: int | None = None) -> int:
    """The tool's option ``name`` as an integer in ``[least, most]``, else a ``ValueError`` naming it."""
    text = options[name]
    value = int(text) if is_ascii_integer(text) else None
    if value is None or value < least or (most is not None and value > most):
        bounds = f"in [{least}, {most}]" if most is not None else f">= {least}"
        raise ValueError(f"{name}={text} must be a whole number {bounds}")
    return value


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
