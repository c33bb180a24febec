"""EdgeFace models on the real weights and real LFW faces (CPU).

The verification test uses the reference-aligned LFW crops, so it checks the loader, the
preprocessing and the weights together: a wrong normalisation, colour order or a half-loaded
network still yields unit vectors, but not ones that separate identities.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from bench.assets import AssetNotFoundError, resolve
from bench.models import Embedder, create_embedder, onnx_export
from bench.models.edgeface import VARIANTS, build_edgeface, load_state_dict_file
from bench.models.lowrank import LowRankLinear, replace_linear_with_low_rank
from bench.runtime import Runtime

from .conftest import bench_config

LOCAL = ("edgeface_xs_gamma_06", "edgeface_xs_q", "edgeface_xxs_q")
EXPECTED_PARAMS = {"edgeface_xs_gamma_06": 1_770_492, "edgeface_xs_q": 2_242_620, "edgeface_xxs_q": 1_244_744}
N_PAIRS = 10


@pytest.fixture(scope="module", autouse=True)
def _offline() -> Iterator[None]:
    """Never download in tests: a missing file must fail fast with the resolver's message."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BENCH_OFFLINE", "1")
        yield


@pytest.fixture(scope="module", autouse=True)
def _onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Exported ONNX graphs go to a temporary folder, not the project's ``checkpoints/``."""
    cache = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(onnx_export, "cache_root", lambda: cache)
        yield


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    """One intra-op thread: int8 models run one face per forward, and such small forwards on a
    shared, busy CPU spend most of their time in thread barriers (measured: 25 ms vs 330 ms a
    face for the same call with two threads), which made this file's run time erratic."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _read_rgb(root: Path, name: str, number: str) -> np.ndarray:
    path = root / name / f"{name}_{int(number):04d}.jpg"
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None, f"cannot read {path}"
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def pairs() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The first ``N_PAIRS`` same- and different-person pairs of LFW fold 1: ``(a, b, same)``."""
    root = resolve("lfw_aligned_112")
    lines = resolve("lfw_pairs").read_text().splitlines()
    per_fold = int(lines[0].split()[1])
    same = [line.split("\t") for line in lines[1 : 1 + N_PAIRS]]
    different = [line.split("\t") for line in lines[1 + per_fold : 1 + per_fold + N_PAIRS]]
    a = [_read_rgb(root, p[0], p[1]) for p in same] + [_read_rgb(root, p[0], p[1]) for p in different]
    b = [_read_rgb(root, p[0], p[2]) for p in same] + [_read_rgb(root, p[2], p[3]) for p in different]
    labels = np.array([True] * len(same) + [False] * len(different))
    return np.stack(a), np.stack(b), labels


@pytest.fixture(scope="module")
def embedders() -> dict[str, Embedder]:
    return {name: create_embedder({"name": name}) for name in LOCAL}


@pytest.mark.parametrize("name", LOCAL)
def test_local_variants_load_strictly(name: str, embedders: dict[str, Embedder]) -> None:
    embedder = embedders[name]
    assert embedder.num_parameters == EXPECTED_PARAMS[name]
    info = embedder.describe()
    assert info["model"] == name
    assert info["model_params"] == str(EXPECTED_PARAMS[name])
    assert info["model_quantized"] == str(VARIANTS[name].quantized).lower()
    assert info["model_device"] == "cpu" == embedder.device
    assert Path(info["model_weights"]).name == f"{name}.pt"


def test_wrong_layout_is_an_error_not_a_partial_load() -> None:
    # The gamma checkpoint on a full-rank network: strict loading must refuse it.
    with pytest.raises(RuntimeError, match="does not fit"):
        create_embedder({"name": "edgeface_xs_gamma_06", "arch": "edgenext_x_small", "rank_ratio": None})


def test_low_rank_layout_matches_checkpoint() -> None:
    model = build_edgeface("edgenext_x_small", rank_ratio=0.6)
    state = load_state_dict_file(resolve("edgeface_xs_gamma_06"))
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == {
        k: tuple(v.shape) for k, v in state.items()
    }
    assert isinstance(model.model.head.fc, LowRankLinear)  # head.fc is factorised too
    assert not any(type(m) is nn.Linear for m in model.modules() if m not in _low_rank_parts(model))


def _low_rank_parts(model: nn.Module) -> set[nn.Module]:
    return {part for m in model.modules() if isinstance(m, LowRankLinear) for part in (m.linear1, m.linear2)}


def test_low_rank_linear_shapes_and_head_rule() -> None:
    layer = LowRankLinear(32, 128, rank_ratio=0.6)
    assert layer.rank == 19 and layer.linear1.bias is None and layer.linear2.bias is not None
    assert LowRankLinear(3, 8, rank_ratio=0.1).rank == 2  # never below 2

    net = nn.Sequential()
    net.add_module("body", nn.Linear(10, 20))
    net.add_module("head", nn.Linear(20, 5))
    replace_linear_with_low_rank(net, 0.5)
    assert isinstance(net.body, LowRankLinear) and type(net.head) is nn.Linear


def _scores(embedder: Embedder, pairs: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
    a, b, _ = pairs
    return np.sum(embedder.embed(a) * embedder.embed(b), axis=1)


@pytest.mark.parametrize(("name", "margin"), [("edgeface_xs_gamma_06", 0.5), ("edgeface_xs_q", 0.4)])
def test_same_person_scores_above_different(
    name: str, margin: float, embedders: dict[str, Embedder], pairs: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> None:
    scores = _scores(embedders[name], pairs)
    same, different = scores[pairs[2]], scores[~pairs[2]]
    assert same.min() > different.mean(), (same, different)
    assert same.mean() - different.mean() > margin, (same.mean(), different.mean())


def test_output_contract_and_batch_independence(
    embedders: dict[str, Embedder], pairs: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> None:
    faces = pairs[0][:12]
    for name in ("edgeface_xs_gamma_06", "edgeface_xxs_q"):
        embedder = embedders[name]
        batched = embedder.embed(faces)
        assert batched.shape == (len(faces), 512) and batched.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)
        single = np.concatenate([embedder.embed(faces[i : i + 1]) for i in range(len(faces))])
        np.testing.assert_allclose(batched, single, atol=1e-5, err_msg=name)
    assert embedders["edgeface_xs_gamma_06"].embed(faces[:0]).shape == (0, 512)


def test_flip_fusion_changes_embedding_keeps_unit_norm(
    embedders: dict[str, Embedder], pairs: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> None:
    faces = pairs[0][:4]
    plain = embedders["edgeface_xs_gamma_06"].embed(faces)
    flipped = create_embedder({"name": "edgeface_xs_gamma_06", "flip": True}).embed(faces)
    np.testing.assert_allclose(np.linalg.norm(flipped, axis=1), 1.0, atol=1e-5)
    assert np.abs(flipped - plain).max() > 1e-3
    assert np.sum(flipped * plain, axis=1).min() > 0.9  # same face, mirrored: close but not equal


def test_bad_input_is_refused(embedders: dict[str, Embedder]) -> None:
    embedder = embedders["edgeface_xs_gamma_06"]
    with pytest.raises(ValueError, match="uint8"):
        embedder.embed(np.zeros((1, 112, 112, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="shape"):
        embedder.embed(np.zeros((1, 3, 112, 112), dtype=np.uint8))


def test_published_only_variant_names_file_and_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A project root with no assets anywhere, so a file someone downloaded cannot hide the error.
    monkeypatch.setenv("BENCH_PROJECT_ROOT", str(tmp_path / "main"))
    monkeypatch.delenv("BENCH_ASSETS", raising=False)
    with pytest.raises(AssetNotFoundError) as error:
        create_embedder({"name": "edgeface_base"})
    message = str(error.value)
    assert "edgeface_base.pt" in message
    assert "https://github.com/otroshi/edgeface/raw/main/checkpoints/edgeface_base.pt" in message


def test_quantized_on_cuda_is_refused_clearly() -> None:
    # A CUDA runtime as Runtime.from_config would resolve it: the refusal comes before any
    # CUDA call, so it is the same on a machine without a GPU.
    cuda = Runtime(torch.device("cuda", 0), ("CUDAExecutionProvider",), detect_threads=1, embed_threads=1)
    with pytest.raises(ValueError, match=r"CPU only.*edgeface_xs_gamma_06"):
        create_embedder({"name": "edgeface_xs_q"}, cuda)


@pytest.mark.parametrize(
    ("name", "precision", "match"),
    [
        ("edgeface_xs_gamma_06", "fp16", "fp16 is not supported on the CPU"),
        ("edgeface_xs_gamma_06", "int4", "'int4' is not a valid Precision"),
        ("edgeface_xs_q", "bf16", "precision=fp32"),
    ],
)
def test_bad_precision_is_refused(name: str, precision: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        create_embedder({"name": name}, precision=precision)


def test_unknown_config_key_is_refused() -> None:
    with pytest.raises(ValueError, match="rank_ration"):
        create_embedder({"name": "edgeface_xs_gamma_06", "rank_ration": 0.6})


def test_the_default_config_builds_the_published_model() -> None:
    # Every model YAML is checked against its variant in test_config.py.
    assert create_embedder(bench_config().model).num_parameters == EXPECTED_PARAMS["edgeface_xs_gamma_06"]
