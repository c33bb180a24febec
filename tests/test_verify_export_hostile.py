"""``bench verify`` and ``bench export`` on hostile input (issue 25): a threshold taken only from a
run scored as the verifier scores, a given threshold checked, a photo given by a link or with
``=`` in its name, and an export that can destroy nothing: not its inputs, not a file it fails
to replace."""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
from pathlib import Path

import onnx
import pytest
import torch
from mlflow import MlflowClient

from bench import export, verify
from bench.assets import resolve
from bench.config import ModelConfig
from bench.metrics import keys
from bench.tracking import run_keys
from tests.cli import run_bench

SAME = ("George_W_Bush/George_W_Bush_0001.jpg", "George_W_Bush/George_W_Bush_0002.jpg")
SUBSET = ("dataset.folds=[0]", "dataset.pairs_per_fold=40")
MODEL = "edgeface_xs_gamma_06"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def noisy_copy(weights: Path, destination: Path) -> Path:
    """``weights`` with every float tensor jittered: the same layout, other scores."""
    state = torch.load(weights, map_location="cpu", weights_only=True)
    generator = torch.Generator().manual_seed(0)
    jittered = {
        name: tensor + 0.05 * tensor.std().nan_to_num() * torch.randn(tensor.shape, generator=generator)
        if tensor.is_floating_point() and tensor.numel() > 1
        else tensor
        for name, tensor in state.items()
    }
    torch.save(jittered, destination)
    return destination


class Store:
    """An MLflow store holding two finished LFW runs of one model and detector: one on the
    published weights, then one on a jittered copy of them (the later run)."""

    def __init__(self, folder: Path) -> None:
        self.uri = f"sqlite:///{folder / 'mlruns.db'}"
        self.noisy = noisy_copy(resolve(MODEL), folder / "noisy.pt")
        env = {**os.environ, "MLFLOW_TRACKING_URI": self.uri, "BENCH_CACHE_DIR": str(folder / "cache")}
        self.published_run = self._run(env, folder / "published")
        self.noisy_run = self._run(env, folder / "noisy", f"model.path={self.noisy}")

    @staticmethod
    def _run(env: dict[str, str], output: Path, *overrides: str) -> str:
        finished = run_bench(*SUBSET, *overrides, f"hydra.run.dir={output}", env=env)
        assert finished.returncode == 0, finished.stderr[-2000:]
        return re.search(r"MLflow run ([0-9a-f]{32})", finished.stderr + finished.stdout).group(1)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    return Store(tmp_path_factory.mktemp("runs"))


def verify_pair(lfw_root: Path, *arguments: str) -> None:
    verify.main([str(lfw_root / photo) for photo in SAME] + list(arguments))


# -- defect 3: the threshold of a run scored otherwise is never used ---------------------------------


@pytest.mark.parametrize("weights", ["published", "noisy"])
def test_the_threshold_comes_from_the_run_on_the_same_weights(
    store: Store, lfw_root: Path, capsys: pytest.CaptureFixture[str], weights: str
) -> None:
    """Both runs have the same model name, detector and pairs; only the weights' content tells
    them apart, and the later one must not lend its threshold to the other."""
    overrides = [f"model.path={store.noisy}"] if weights == "noisy" else []
    verify_pair(lfw_root, f"tracking.uri={store.uri}", *overrides)
    expected = store.noisy_run if weights == "noisy" else store.published_run
    assert f"run {expected} (40 pairs of lfw)" in capsys.readouterr().out


def test_weights_of_the_same_content_elsewhere_match(
    store: Store, lfw_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    moved = shutil.copyfile(store.noisy, tmp_path / "moved.pt")
    verify_pair(lfw_root, f"tracking.uri={store.uri}", f"model.path={moved}")
    assert f"run {store.noisy_run} (40 pairs of lfw)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("override", "difference"),
    [
        ("selection=largest", r"selection: largest here, center_weighted in that run"),
        ("detect_max_side=640", r"detection\.detect_max_side: 640 here, 2048 in that run"),
        ("detector.options.score_threshold=0.9", r"detection\.detector\.options\.score_threshold: 0\.9 here"),
        ("model.flip=true", r"model\.flip: True here, False in that run"),
        ("model.template=dlib_chip_150", r"template\.size: 150 here, 112 in that run"),
    ],
)
def test_no_run_scored_with_these_settings_means_no_threshold(
    store: Store, lfw_root: Path, override: str, difference: str
) -> None:
    with pytest.raises(SystemExit) as refused:
        verify_pair(lfw_root, f"tracking.uri={store.uri}", override)
    message = str(refused.value)
    assert re.search(difference, message), message
    assert f"python -m bench model={MODEL} detector=yunet tracking.uri={store.uri} {override}" in message
    assert "or give threshold=" in message


def test_a_run_that_does_not_record_its_score_settings_lends_no_threshold(
    lfw_root: Path, tmp_path: Path
) -> None:
    """A run logged before runs recorded what decided their scores, as its tags and parameters
    were then: its threshold may come from any weights or options."""
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    client = MlflowClient(uri)
    tags = {run_keys.MODEL_TAG: MODEL, run_keys.DETECTOR_TAG: "yunet", run_keys.DATASET_TAG: "lfw"}
    older = client.create_run(client.create_experiment("face-alignment"), tags=tags)
    params = {
        **run_keys.CLEAN_PARAMS,
        "model.flip": False,
        run_keys.MODEL_TEMPLATE_PARAM: "native",
    }
    for name, value in params.items():
        client.log_param(older.info.run_id, name, value)
    client.log_metric(older.info.run_id, keys.NUM_PAIRS, 6000)
    client.log_metric(older.info.run_id, keys.BEST_THRESHOLD, 0.999)
    client.set_terminated(older.info.run_id)
    with pytest.raises(SystemExit, match=rf"run {older.info.run_id}, differs in its score settings, which"):
        verify_pair(lfw_root, f"tracking.uri={uri}")


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["threshold=nan"], r"threshold=nan is not a finite number"),
        (["threshold=-inf"], r"threshold=-inf is not a finite number"),
        (["threshold=abc"], r"threshold=abc is not a number"),
        (["threshold=5"], r"threshold=5 is outside \[-1, 1\], the range of cosine scores"),
        (["threshold=-2"], r"threshold=-2 is outside \[-1, 1\], the range of cosine scores"),
        (
            ["model=dlib_resnet34", "threshold=0.6"],
            r"threshold=0.6 is outside \(-inf, 0\], the range of minus the Euclidean distance",
        ),
    ],
)
def test_a_given_threshold_must_be_a_score_the_similarity_can_reach(
    lfw_root: Path, arguments: list[str], expected: str
) -> None:
    with pytest.raises(SystemExit, match=expected):
        verify_pair(lfw_root, *arguments)


# -- defect 17, verify: the user's own photos --------------------------------------------------------


def test_a_photo_given_by_a_link_is_followed(
    lfw_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "link.jpg").symlink_to(lfw_root / SAME[0])
    monkeypatch.chdir(tmp_path)  # "link.jpg", as typed in a shell: its folder is "."
    verify.main(["link.jpg", str(lfw_root / SAME[1]), "threshold=0.3"])
    assert capsys.readouterr().out.rstrip().endswith("the same person")


def test_a_photo_with_an_equals_sign_in_its_name_is_a_photo(
    lfw_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photo = shutil.copyfile(lfw_root / SAME[0], tmp_path / "bush=2001.jpg")
    verify.main([str(photo), str(lfw_root / SAME[1]), "threshold=0.3"])
    assert capsys.readouterr().out.rstrip().endswith("the same person")


def test_a_missing_photo_with_an_equals_sign_is_named(lfw_root: Path, tmp_path: Path) -> None:
    missing = tmp_path / "bush=2001.jpg"
    with pytest.raises(
        SystemExit, match=rf"unless it names an existing file.*read as settings: {re.escape(str(missing))}"
    ):
        verify.main([str(missing), str(lfw_root / SAME[1]), "threshold=0.3"])


# -- defect 17, export: options and the output checked before any work -------------------------------


@pytest.mark.parametrize(
    ("faces", "expected"),
    [
        ("0", r"faces=0 must be a whole number in \[1, \d+\]"),
        ("abc", r"faces=abc must be a whole number in \[1, \d+\]"),
        ("100000", r"faces=100000 must be a whole number in \[1, \d+\]"),
        ("\u0663", r"faces=\u0663 must be a whole number in \[1, \d+\]"),  # int() reads it as 3
    ],
)
def test_the_face_count_is_checked_before_the_graph_is_written(
    tmp_path: Path, faces: str, expected: str
) -> None:
    output = tmp_path / "model.onnx"
    with pytest.raises(SystemExit, match=expected):
        export.main([f"model={MODEL}", f"output={output}", f"faces={faces}"])
    assert not output.exists()


def test_an_unwritable_report_is_refused_before_the_graph_is_written(tmp_path: Path) -> None:
    output = tmp_path / "model.onnx"
    (tmp_path / "model.parity.json").mkdir()
    with pytest.raises(SystemExit, match=r"model\.parity\.json of output=.* is a folder"):
        export.main([f"model={MODEL}", f"output={output}", "faces=2"])
    assert not output.exists()


@pytest.mark.parametrize("where", ["a folder", "under a file"])
def test_an_output_that_cannot_be_a_file_is_refused(tmp_path: Path, where: str) -> None:
    (tmp_path / "notes.txt").write_text("not a folder\n")
    output = tmp_path if where == "a folder" else tmp_path / "notes.txt" / "model.onnx"
    message = "is a folder" if where == "a folder" else r"notes\.txt is not a folder"
    with pytest.raises(SystemExit, match=message):
        export.main([f"model={MODEL}", f"output={output}", "faces=2"])


# -- defect 5: export never destroys its inputs, nor a file it fails to replace ----------------------


@pytest.mark.parametrize("alias", ["same path", "symbolic link", "hard link", "the report's path"])
def test_an_output_that_is_the_weights_is_refused_and_the_weights_survive(tmp_path: Path, alias: str) -> None:
    weights = shutil.copyfile(resolve(MODEL), tmp_path / "trained.pt")
    before = sha256(weights)
    output = {
        "same path": weights,
        "symbolic link": tmp_path / "link.onnx",
        "hard link": tmp_path / "hard.onnx",
        "the report's path": tmp_path / "trained.onnx",  # its report would be trained.parity.json
    }[alias]
    if alias == "symbolic link":
        output.symlink_to(weights)
    elif alias == "hard link":
        os.link(weights, output)
    elif alias == "the report's path":
        weights = weights.rename(tmp_path / "trained.parity.json")
    with pytest.raises(SystemExit, match=r"is the model's weights"):
        export.main([f"model={MODEL}", f"model.path={weights}", f"output={output}", "faces=2"])
    assert sha256(weights) == before


def test_a_failed_write_leaves_the_previous_graph_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk fills up as the graph's metadata is saved: the graph from before stays as it was,
    and no partial file is left beside it."""
    output = tmp_path / "model.onnx"
    export.export_model(ModelConfig(name=MODEL), output)
    before = sha256(output)

    def disk_full(*_: object, **__: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(onnx, "save", disk_full)
    with pytest.raises(SystemExit, match=r"No space left on device"):
        export.main([f"model={MODEL}", f"output={output}", "faces=2"])
    assert sha256(output) == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model.onnx"]
