"""No result depends on the cache's history: a run cold, warm, and warm after its files were
renamed gives bit-identical pair scores and failure reasons, under every perturbation and stress
condition, on a data set where two files share their bytes."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from bench.assets import resolve
from bench.cache import bytes_digest
from bench.config import Perturbation, StressCondition, StressConfig
from bench.pipeline import BenchmarkResult, BenchmarkRunner
from bench.stress import FaceDonors, Stress

from . import corpus
from .conftest import LFW_SAMPLES
from .test_csv_pairs import pairs_config

#: Two files with one content in two people's folders (a copy), and one undecodable file and
#: its copy: what a content-keyed cache stores once and serves to both.
COPIES = {f"Copied/Copied_000{n}.jpg": LFW_SAMPLES[n] for n in range(1, 5)}
BROKEN = ("Broken/notes_0001.jpg", "Other/notes_0002.jpg")


def build(root: Path, rename: bool = False) -> tuple[Path, Path]:
    """The data set under ``root`` and its pairs CSV; ``rename`` gives every folder and file a
    new name that keeps their order (the distractor's donors are drawn by position)."""

    def name(path: str) -> str:
        folder, file = path.split("/")
        return f"z_{folder}/r_{file}" if rename else path

    lfw = resolve("lfw_deepfunneled")
    sources = {path: lfw / path for path in LFW_SAMPLES} | {copy: lfw / src for copy, src in COPIES.items()}
    for path, source in sources.items():
        (root / name(path)).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, root / name(path))
    for path in BROKEN:
        (root / name(path)).parent.mkdir(parents=True, exist_ok=True)
        (root / name(path)).write_bytes(b"not an image, whatever the extension says\n")
    images = [*LFW_SAMPLES, *COPIES]
    rows = [(name(images[i]), name(images[(i + 1) % len(images)]), i % 2) for i in range(len(images))]
    rows += [(name(copy), name(source), 1) for copy, source in COPIES.items()]
    rows += [(name(BROKEN[0]), name(images[0]), 0), (name(BROKEN[1]), name(images[1]), 0)]
    return root, corpus.pairs_csv(root.parent / f"pairs{'_renamed' if rename else ''}.csv", rows)


@pytest.fixture(scope="module")
def datasets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    base = tmp_path_factory.mktemp("history")
    return {"original": build(base / "original"), "renamed": build(base / "renamed", rename=True)}


def run(dataset: tuple[Path, Path], cache: Path, *overrides: str) -> BenchmarkResult:
    root, protocol = dataset
    config = pairs_config(
        root, protocol, "dataset.num_folds=2", "detector=yunet", f"cache.dir={cache}", *overrides
    )
    with BenchmarkRunner(config) as runner:
        return runner.run()


def faces(result: BenchmarkResult) -> list[object]:
    """Each image's aligned face: its box and landmarks."""
    return [
        None if r.face is None else (r.face.box.tolist(), np.asarray(r.face.landmarks).tolist())
        for r in result.records
    ]


def assert_same(first: BenchmarkResult, second: BenchmarkResult) -> None:
    np.testing.assert_array_equal(second.scores, first.scores)
    assert faces(second) == faces(first)
    assert second.quality.keys() == first.quality.keys()
    for name, values in first.quality.items():
        np.testing.assert_array_equal(second.quality[name], values, err_msg=name)
    assert [(r.status, r.reason, r.perturbation_nme) for r in second.records] == [
        (r.status, r.reason, r.perturbation_nme) for r in first.records
    ]


CONDITIONS = [
    *(
        pytest.param(
            [f"perturbation.kind={kind.value}", "perturbation.magnitude=0.1"], id=f"perturbation={kind.value}"
        )
        for kind in Perturbation
        if kind is not Perturbation.none
    ),
    *(
        pytest.param([f"stress={condition.value}"], id=f"stress={condition.value}")
        for condition in StressCondition
        if condition is not StressCondition.none
    ),
]


@pytest.mark.parametrize("overrides", CONDITIONS)
def test_cold_warm_and_renamed_runs_give_the_same_scores(
    datasets: dict[str, tuple[Path, Path]], tmp_path: Path, overrides: list[str]
) -> None:
    cache = tmp_path / "cache"
    cold = run(datasets["original"], cache, *overrides)
    assert cold.metrics["num_images_computed"] == cold.metrics["num_images"]
    warm = run(datasets["original"], cache, *overrides)
    assert warm.metrics["num_images_computed"] == 0
    renamed = run(datasets["renamed"], cache, *overrides)
    assert renamed.metrics["num_images_computed"] == 0
    assert_same(cold, warm)
    assert_same(cold, renamed)
    # A reason is the content's, so it names no file: the copies share it.
    reasons = {r.path: r.reason for r in cold.records}
    assert reasons[BROKEN[0]] == reasons[BROKEN[1]] != ""
    assert not any("notes_" in reason for reason in reasons.values())


def test_a_donor_whose_pixels_changed_misses_the_cache_of_every_image_it_was_pasted_into(
    tmp_path: Path,
) -> None:
    dataset = build(tmp_path / "data")
    cache = tmp_path / "cache"
    run(dataset, cache, "stress=distractor")
    # Three people's photos passed round: every file's bytes are still cached, under their own
    # content, but the images they were pasted into now get another face.
    changed = LFW_SAMPLES[3:]
    contents = [(dataset[0] / name).read_bytes() for name in changed]
    for name, content in zip(changed, contents[1:] + contents[:1], strict=True):
        (dataset[0] / name).write_bytes(content)
    warm = run(dataset, cache, "stress=distractor")
    cold = run(dataset, tmp_path / "fresh_cache", "stress=distractor")
    assert warm.metrics["num_images_computed"] > 0
    assert_same(cold, warm)


def test_a_degraded_images_identity_holds_its_donors_bytes_and_no_name(tmp_path: Path) -> None:
    root, _ = build(tmp_path / "data")
    image = LFW_SAMPLES[0]
    content = bytes_digest((root / image).read_bytes())

    def identity() -> str:
        donors = FaceDonors(root, tuple(str(path.relative_to(root)) for path in root.rglob("*.jpg")), 10**8)
        stress = Stress(StressConfig(name=StressCondition.distractor, levels=[1.0] * 5), donors)
        return stress.digest(content, stress.draw_donor(content, image))

    before = identity()
    for path in root.rglob("*.jpg"):
        if path.parent.name != image.split("/")[0]:
            path.rename(path.with_name(f"renamed_{path.name}"))
    assert identity() == before
    for path in root.rglob("*.jpg"):
        if path.parent.name != image.split("/")[0]:
            path.write_bytes((root / image).read_bytes())
    assert identity() != before
