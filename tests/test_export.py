"""``bench export``: the ONNX graph of an EdgeFace model embeds real faces as PyTorch does, and
runs in the benchmark as ``model=onnx``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bench.config import ModelConfig
from bench.export import MIN_COSINE, check_parity, export_model, main, reference_faces
from bench.models import create_embedder
from bench.models.edgeface import create_model
from bench.models.onnx_export import GRAPH_ARCH, GRAPH_PARAMETERS, graph_metadata, write_onnx
from tests.conftest import run_benchmark

SUBSET = ("detector=yunet", "dataset.folds=[0]", "dataset.pairs_per_fold=40")


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_model(
        ModelConfig(name="edgeface_xs_gamma_06"), tmp_path_factory.mktemp("export") / "xs.onnx"
    )


def test_the_graph_embeds_real_faces_as_pytorch_does(graph: Path) -> None:
    parity = check_parity(ModelConfig(name="edgeface_xs_gamma_06"), graph, reference_faces(64))
    assert parity.faces == 64
    assert parity.min_cosine >= MIN_COSINE
    assert parity.max_abs_difference < 1e-5
    assert parity.batch_one_max_abs_difference < 1e-6  # the batch axis is dynamic and exact


def test_the_graph_carries_its_layout(graph: Path) -> None:
    metadata = graph_metadata(graph)
    assert metadata[GRAPH_ARCH] == "edgenext_x_small"
    assert metadata[GRAPH_PARAMETERS] == "1770492"
    described = create_embedder({"name": "xs", "path": str(graph)}).describe()
    assert (described["model_arch"], described["model_rank_ratio"]) == ("edgenext_x_small", "0.6")
    assert described["model_params"] == "1770492"
    assert described["model_mflops"] != "unknown"
    assert described["model_backend"] == "onnxruntime" and described["model_onnx"] == str(graph)


def test_a_graph_made_elsewhere_runs_and_says_what_it_does_not_know(tmp_path: Path) -> None:
    path = tmp_path / "foreign.onnx"
    write_onnx(create_model("edgeface_xs_gamma_06"), path)  # no metadata, like another exporter's file
    embedder = create_embedder({"name": "foreign", "path": str(path)})
    described = embedder.describe()
    assert (described["model_arch"], described["model_mflops"]) == ("unknown", "unknown")
    assert embedder.embed(reference_faces(2)).shape == (2, 512)


def test_the_exported_file_runs_in_the_benchmark_like_the_model(graph: Path) -> None:
    exported = run_benchmark(*SUBSET, "model=onnx", f"model.path={graph}")
    original = run_benchmark(*SUBSET, "model=edgeface_xs_gamma_06", "hardware.embed_backend=torch")
    assert exported.runtime["model"] == "xs"
    assert exported.runtime["model_backend"] == "onnxruntime"
    np.testing.assert_allclose(exported.scores, original.scores, atol=1e-5)
    assert exported.metrics["accuracy"] == original.metrics["accuracy"]


def test_the_command_writes_the_graph_and_its_parity_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "out" / "model.onnx"
    main(["model=edgeface_xs_gamma_06", "format=onnx", f"output={output}", "faces=16"])
    report = json.loads(output.with_suffix(".parity.json").read_text())
    assert report["faces"] == 16 and report["min_cosine"] >= MIN_COSINE and report["opset"] == 17
    assert f"model=onnx model.path={output}" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["format=tflite"], "format=tflite is not supported; formats: onnx"),
        (["model=edgeface_xs_q"], "dynamic-int8 model, which ONNX export does not cover"),
    ],
)
def test_what_cannot_be_exported_is_refused(tmp_path: Path, arguments: list[str], message: str) -> None:
    with pytest.raises((SystemExit, ValueError), match=message):
        main([*arguments, f"output={tmp_path}/x.onnx"])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"backend": "torch"}, "is an ONNX graph, which ONNX Runtime runs"),
        ({"precision": "bf16"}, "is an fp32 ONNX graph; precision=bf16 is PyTorch autocast"),
    ],
)
def test_a_graph_refuses_pytorch_only_settings(graph: Path, options: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        create_embedder({"name": "xs", "path": str(graph)}, **options)
