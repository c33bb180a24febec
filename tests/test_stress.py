"""The stress suite's degradations: deterministic bytes, geometry that carries landmarks along,
the one-sided protocol, the cache, and the model's accuracy falling with severity."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from bench.assets import resolve
from bench.cache import bytes_digest
from bench.config import SEVERITIES, StressCondition, StressConfig, StressSides
from bench.data import PairDataset
from bench.data.pairs import Pair
from bench.detectors import create_detector, select_face
from bench.pipeline.entries import ImageEntry
from bench.pipeline.protocols import PairsProtocol
from bench.reporting.stress import StressRun, stress_report
from bench.runtime import Runtime
from bench.stress import FaceDonors, Stress, StressError, geometric
from bench.stress.faces import REFERENCE_FACES
from bench.stress.specs import spec_of

from .cli import run_bench
from .cli import store as store
from .conftest import LFW_SAMPLES, bench_config, run_benchmark
from .test_sweep import artifact_names, parent_and_children


def default_levels(condition: StressCondition) -> list[float] | None:
    """The levels ``stress=<condition>`` sets, as the composed config holds them."""
    levels = spec_of(condition).default_levels
    return None if levels is None else list(levels)


#: The test images' own folders: the donors of distractor faces.
DONORS = FaceDonors(resolve("lfw_deepfunneled"), tuple(LFW_SAMPLES), 50_000_000)


def stress(name: StressCondition, severity: int = 3, **options: object) -> Stress:
    config = StressConfig(name=name, severity=severity, levels=default_levels(name), **options)  # type: ignore[arg-type]
    return Stress(config, DONORS)


def content(image: np.ndarray) -> str:
    """The image's content digest, as the runner passes the digest of its file's bytes."""
    return bytes_digest(np.ascontiguousarray(image).tobytes())


def degraded(condition: Stress, image: np.ndarray, path: str = LFW_SAMPLES[0]) -> np.ndarray:
    """``image`` (named ``path`` in the data set) degraded, with the donor drawn for it."""
    digest = content(image)
    return condition.degrade(image, digest, condition.draw_donor(digest, path)).image


def fingerprint(image: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(image).tobytes()).hexdigest()


def test_every_condition_has_a_yaml_that_composes_to_it() -> None:
    for condition in StressCondition:
        config = bench_config(f"stress={condition.value}")
        assert config.stress.name is condition
        assert config.stress.levels == default_levels(condition)


#: Conditions that draw nothing at random: the same output whatever the seed.
DRAW_NOTHING = {
    StressCondition.defocus_blur,
    StressCondition.zoom_blur,
    StressCondition.gaussian_blur,
    StressCondition.brightness,
    StressCondition.contrast,
    StressCondition.saturate,
    StressCondition.pixelate,
    StressCondition.jpeg_compression,
    StressCondition.downscale,
    StressCondition.resolution,
    StressCondition.eye_band,
    StressCondition.lower_face,
}


@pytest.mark.parametrize("condition", [c for c in StressCondition if c is not StressCondition.none])
def test_the_same_image_is_degraded_the_same_way_and_another_seed_differently(
    condition: StressCondition, lfw_images: list[np.ndarray]
) -> None:
    image = lfw_images[0]
    first = degraded(stress(condition), image)
    again = degraded(stress(condition), image.copy())
    assert np.array_equal(first, again)
    assert first.shape != image.shape or not np.array_equal(first, image)
    others = [degraded(stress(condition, seed=seed), image) for seed in range(1, 9)]
    differs = any(other.shape != first.shape or not np.array_equal(first, other) for other in others)
    assert differs == (condition not in DRAW_NOTHING)


def test_the_bytes_are_the_same_in_another_process_and_on_many_threads(lfw_images: list[np.ndarray]) -> None:
    conditions = (StressCondition.gaussian_noise, StressCondition.frost, StressCondition.rotation)
    digests = [f"{index:032x}" for index in range(len(lfw_images))]
    here = {
        condition.value: [
            fingerprint(stress(condition).degrade(image, digest).image)
            for image, digest in zip(lfw_images, digests, strict=True)
        ]
        for condition in conditions
    }
    # Threads share the corruption library's global random state: the lock keeps each image's draw.
    with ThreadPoolExecutor(4) as pool:
        threaded = list(
            pool.map(
                lambda job: fingerprint(stress(job[0]).degrade(job[1], job[2]).image),
                [
                    (StressCondition.gaussian_noise, image, d)
                    for image, d in zip(lfw_images, digests, strict=True)
                ]
                * 3,
            )
        )
    assert threaded == here["gaussian_noise"] * 3
    script = (
        "import sys, hashlib, cv2, numpy as np\n"
        "from bench.config import StressConfig, StressCondition\n"
        "from bench.stress import Stress\n"
        "image = cv2.cvtColor(cv2.imread(sys.argv[1]), cv2.COLOR_BGR2RGB)\n"
        "conditions = (('gaussian_noise', None), ('frost', None), ('rotation', [15, 30, 45, 60, 90]))\n"
        "for name, levels in conditions:\n"
        "    s = Stress(StressConfig(name=StressCondition(name), severity=3, levels=levels))\n"
        "    print(hashlib.sha256(s.apply(image, sys.argv[2]).image.tobytes()).hexdigest())\n"
    )
    output = subprocess.run(
        [sys.executable, "-c", script, str(resolve("lfw_deepfunneled") / LFW_SAMPLES[0]), digests[0]],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert output == [here[condition.value][0] for condition in conditions]


def dots(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A black image with a small bright Gaussian blob at each point (sub-pixel centres)."""
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]]
    image = np.zeros(shape, dtype=np.float64)
    for x, y in points:
        image += np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * 2.5**2))
    return np.repeat((np.clip(image, 0, 1) * 255).round().astype(np.uint8)[..., None], 3, axis=2)


def centroids(image: np.ndarray, near: np.ndarray, radius: float) -> np.ndarray:
    """The brightness-weighted centre of the blob around each expected point."""
    grey = image[..., 0].astype(np.float64)
    ys, xs = np.mgrid[0 : grey.shape[0], 0 : grey.shape[1]]
    found = []
    for x, y in near:
        weight = grey * (((xs - x) ** 2 + (ys - y) ** 2) <= radius**2)
        found.append([(weight * xs).sum() / weight.sum(), (weight * ys).sum() / weight.sum()])
    return np.array(found)


@pytest.mark.parametrize(
    ("condition", "severity"),
    [
        (StressCondition.rotation, 1),
        (StressCondition.rotation, 5),
        (StressCondition.small_face, 2),
        (StressCondition.small_face, 4),
        (StressCondition.downscale, 1),
    ],
)
def test_points_move_as_the_reported_transform_says(condition: StressCondition, severity: int) -> None:
    points = np.array([[60.3, 70.6], [140.2, 68.9], [100.5, 120.4], [75.8, 160.1]])
    image = dots(points, (200, 210))
    stressed = stress(condition, severity).apply(image, content(image))
    expected = points @ stressed.transform[:, :2].T + stressed.transform[:, 2]
    scale = np.sqrt(abs(np.linalg.det(stressed.transform[:, :2])))
    found = centroids(stressed.image, expected, radius=8 * scale)
    np.testing.assert_allclose(found, expected, atol=0.25 + 0.1 / scale)


@pytest.mark.parametrize(
    ("condition", "severity"), [(StressCondition.rotation, 1), (StressCondition.small_face, 2)]
)
def test_real_landmarks_follow_the_transform(
    condition: StressCondition, severity: int, lfw_images: list[np.ndarray]
) -> None:
    """MTCNN's landmarks on the degraded image are its clean ones carried by the transform, within
    10 % of the inter-ocular distance on average (measured: 1-6 %; a wrong sign or offset would
    be off by a third of it or more). Detectors pull landmarks of a turned face towards upright,
    which is what the stress suite measures, so the tolerance is not tighter."""
    detector = create_detector("mtcnn", Runtime.local("cpu", threads=1))
    for image in lfw_images[:4]:
        stressed = stress(condition, severity).apply(image, content(image))
        clean, degraded = detector.detect([image, stressed.image])
        before = select_face(clean, image.shape[:2])
        after = select_face(degraded, stressed.image.shape[:2])
        assert before is not None and after is not None
        carried = before.landmarks @ stressed.transform[:, :2].T + stressed.transform[:, 2]
        inter_ocular = np.linalg.norm(carried[1] - carried[0])
        error = np.linalg.norm(after.landmarks - carried, axis=1).mean()
        assert error < 0.1 * inter_ocular, (error, inter_ocular)


def test_occlusion_blacks_out_one_square_of_the_given_side(lfw_images: list[np.ndarray]) -> None:
    image = lfw_images[0]
    for severity in range(1, SEVERITIES + 1):
        occluded = stress(StressCondition.occlusion, severity).apply(image, content(image))
        changed = np.any(occluded.image != image, axis=2)
        side = round(spec_of(StressCondition.occlusion).default_levels[severity - 1] * min(image.shape[:2]))
        rows, cols = np.nonzero(np.all(occluded.image == 0, axis=2) & changed)
        assert rows.max() - rows.min() + 1 <= side and cols.max() - cols.min() + 1 <= side
        np.testing.assert_array_equal(occluded.transform, np.eye(2, 3))


def test_an_image_degraded_again_in_this_process_is_the_same_read_only_array(
    lfw_images: list[np.ndarray],
) -> None:
    """Consecutive jobs of a stress sweep share the degraded images: one corruption per image."""
    digest = content(lfw_images[1])
    first = stress(StressCondition.zoom_blur).apply(lfw_images[1], digest)
    again = stress(StressCondition.zoom_blur).apply(lfw_images[1], digest)
    assert again.image is first.image and not first.image.flags.writeable
    other = stress(StressCondition.zoom_blur, severity=4).apply(lfw_images[1], digest)
    assert other.image is not first.image


#: Five points of an upright face: eyes 40 px apart at y = 100, nose, mouth corners at y = 150.
FACE_POINTS = np.array([[100.0, 100.0], [140.0, 100.0], [120.0, 125.0], [104.0, 150.0], [136.0, 150.0]])


def test_the_eye_band_covers_the_eyes_and_the_lower_face_the_mouth() -> None:
    grey = np.full((250, 240, 3), 128, np.uint8)
    banded, transform = geometric.eye_band(grey, FACE_POINTS, 0.5)
    np.testing.assert_array_equal(transform, np.eye(2, 3))
    dark = np.all(banded == 0, axis=2)
    # 0.5 x 40 px high about y = 100, from x = 80 to 160 (half an IOD beyond each eye).
    assert dark[100, 100] and dark[100, 140] and dark[91, 81] and dark[109, 159]
    assert not dark[88, 120] and not dark[112, 120] and not dark[100, 77] and not dark[100, 163]
    assert not dark[150, 104]
    masked, _ = geometric.lower_face(grey, FACE_POINTS, 0.6)
    dark = np.all(masked == 0, axis=2)
    # From 0.6 of the way up from the mouth (y = 150 - 0.6 x 50 = 120) down past the chin.
    assert dark[150, 104] and dark[150, 136] and dark[122, 120] and dark[200, 120]
    assert not dark[117, 120] and not dark[100, 100] and not dark[150, 68]


def test_resolution_brings_the_eyes_to_the_given_distance(lfw_images: list[np.ndarray]) -> None:
    image = lfw_images[0]
    condition = stress(StressCondition.resolution, 3)  # 16 px between the eyes
    stressed = condition.apply(image, content(image))
    points = REFERENCE_FACES.landmarks(image, content(image))
    assert points is not None
    carried = points @ stressed.transform[:, :2].T + stressed.transform[:, 2]
    assert np.linalg.norm(carried[1] - carried[0]) == pytest.approx(16, abs=0.3)
    assert stressed.image.shape[0] == round(image.shape[0] * 16 / np.linalg.norm(points[1] - points[0]))


def test_a_distractor_is_another_persons_face_and_the_selection_keeps_this_one(
    lfw_images: list[np.ndarray],
) -> None:
    detector = create_detector("yunet", Runtime.local("cpu", threads=1))
    for index in range(3):
        image, path = lfw_images[index], LFW_SAMPLES[index]
        distractor = stress(StressCondition.distractor, 3)
        stressed = distractor.apply(image, content(image), distractor.draw_donor(content(image), path))
        assert not np.array_equal(stressed.image, image)
        (faces,) = detector.detect([stressed.image])
        assert len(faces) >= 2  # this face and the pasted one, as large
        chosen = select_face(faces, stressed.image.shape[:2])
        reference = REFERENCE_FACES.landmarks(image, content(image))
        assert chosen is not None and chosen.landmarks is not None and reference is not None
        inter_ocular = np.linalg.norm(reference[1] - reference[0])
        # This face (a detector is a few pixels off the median), not the other, 100 px away.
        assert np.linalg.norm(chosen.landmarks - reference, axis=1).mean() < 0.25 * inter_ocular
    lonely = FaceDonors(resolve("lfw_deepfunneled"), (LFW_SAMPLES[0],), 50_000_000)
    config = StressConfig(name=StressCondition.distractor, levels=default_levels(StressCondition.distractor))
    with pytest.raises(StressError, match="every image of the data set shows the person of"):
        Stress(config, lonely).draw_donor(content(lfw_images[0]), LFW_SAMPLES[0])


def test_a_condition_placed_by_the_face_names_an_image_without_one() -> None:
    blank = np.full((120, 120, 3), 90, np.uint8)
    with pytest.raises(StressError, match=r"stress=eye_band is placed by the face's reference landmarks"):
        stress(StressCondition.eye_band).apply(blank, content(blank))


def test_a_photometric_condition_names_what_it_cannot_degrade() -> None:
    with pytest.raises(StressError, match=r"stress=fog needs an image of at least 32 px a side, got 40x20"):
        small = np.zeros((20, 40, 3), np.uint8)
        stress(StressCondition.fog).apply(small, content(small))


def test_one_sided_stress_degrades_the_first_image_of_each_pair_only() -> None:
    pairs = [
        Pair("a.jpg", "b.jpg", True, 0),
        Pair("b.jpg", "c.jpg", False, 0),
        Pair("a.jpg", "c.jpg", False, 0),
    ]
    dataset = PairDataset("tiny", Path("/data"), pairs)
    one = PairsProtocol().entries(dataset, StressConfig(name=StressCondition.fog, sides=StressSides.one))
    assert one.entries == [
        ImageEntry("a.jpg", True),
        ImageEntry("b.jpg", False),
        ImageEntry("b.jpg", True),
        ImageEntry("c.jpg", False),
    ]
    assert one.index_a.tolist() == [0, 2, 0] and one.index_b.tolist() == [1, 3, 3]
    both = PairsProtocol().entries(dataset, StressConfig(name=StressCondition.fog))
    assert [entry.stressed for entry in both.entries] == [True] * 3
    clean = PairsProtocol().entries(dataset, StressConfig())
    assert [entry.path for entry in clean.entries] == dataset.images
    assert not any(entry.stressed for entry in clean.entries)


ONE_FOLD = ["dataset.folds=[0]", "dataset.pairs_per_fold=30"]


def test_stressed_results_are_cached_beside_the_clean_ones(tmp_path: Path) -> None:
    cache = [f"cache.dir={tmp_path / 'cache'}"]
    clean = run_benchmark(*ONE_FOLD, *cache)
    stressed = run_benchmark(*ONE_FOLD, *cache, "stress=motion_blur", "stress.severity=5")
    assert stressed.metrics["num_images_computed"] == stressed.metrics["num_images"]
    assert stressed.runtime["stress_library"].startswith("imagecorruptions-imaug ")
    again = run_benchmark(*ONE_FOLD, *cache, "stress=motion_blur", "stress.severity=5")
    assert again.metrics["num_images_computed"] == 0
    np.testing.assert_array_equal(again.scores, stressed.scores)
    assert not np.allclose(stressed.scores, clean.scores)
    # One-sided: the degraded first images and the clean second ones are both in the cache already.
    one_sided = run_benchmark(
        *ONE_FOLD, *cache, "stress=motion_blur", "stress.severity=5", "stress.sides=one"
    )
    assert one_sided.metrics["num_images_computed"] == 0
    first_images = {pair.image_a for pair in one_sided.dataset.pairs}
    assert {record.path for record in one_sided.records if record.stressed} == first_images
    assert one_sided.metrics["num_images"] == len(first_images) + len(
        {p.image_b for p in one_sided.dataset.pairs}
    )


def test_the_model_alone_loses_accuracy_as_severity_grows() -> None:
    """``dataset=lfw_aligned detector=none``: the model-only row, on two folds of aligned faces."""
    subset = ["dataset=lfw_aligned", "detector=none", "dataset.folds=[0,1]", "dataset.pairs_per_fold=100"]
    accuracy = {
        severity: run_benchmark(
            *subset, "cache=off", "stress=gaussian_noise", f"stress.severity={severity}"
        ).metrics["accuracy"]
        for severity in (1, 5)
    }
    assert accuracy[5] <= accuracy[1]
    assert accuracy[5] < accuracy[1] - 0.05, accuracy  # severity 5 is far harder, not a tie


def test_a_degraded_image_is_a_counted_failure_when_it_cannot_be_degraded(tmp_path: Path) -> None:
    root = tmp_path / "images"
    (root / "p").mkdir(parents=True)
    small = np.zeros((20, 20, 3), np.uint8)
    for name in ("a", "b", "c", "d"):
        cv2.imwrite(
            str(root / "p" / f"{name}.png"), small if name == "a" else np.full((64, 64, 3), 90, np.uint8)
        )
    csv = tmp_path / "pairs.csv"
    csv.write_text(
        "path_a,path_b,label,fold\np/a.png,p/b.png,1,0\np/c.png,p/d.png,0,0\np/b.png,p/d.png,1,1\np/a.png,p/c.png,0,1\n"
    )
    result = run_benchmark(
        "dataset=pairs",
        f"dataset.root={root}",
        f"dataset.pairs_csv={csv}",
        "detector=center_crop",
        "cache=off",
        "stress=fog",
    )
    failed = [record for record in result.records if record.reason]
    assert [record.path for record in failed] == ["p/a.png"]
    assert "stress=fog needs an image of at least 32 px" in failed[0].reason


STRESS_REPORT = {
    "stress_results.csv",
    "stress_summary.csv",
    "stress_summary.md",
    "stress_accuracy.png",
    "stress_detection.png",
    "stress_heatmap.png",
    "stress_faces.png",
    "stress_significance.csv",
}


def test_a_stress_sweep_of_two_methods_leaves_its_report_on_the_parent_run(
    store: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    """Two methods and the model-only row (``detector=none`` brings the reference-aligned faces),
    clean and downscaled. Skipped: downscaling aligned faces (it measures nothing) and the clean
    job at severity 5 (it would repeat severity 1)."""
    uri, env = store
    completed = run_bench(
        "dataset.folds=[0]",
        "dataset.pairs_per_fold=20",
        "detector=yunet,center_crop,none",
        "stress=none,downscale",
        "stress.severity=1,5",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        "-m",
        env=env,
    )
    assert completed.returncode == 0, completed.stderr
    client = MlflowClient(uri)
    parent, children = parent_and_children(client)
    assert len(children) == 7 and parent.info.status == "FINISHED"
    assert parent.data.metrics["jobs_skipped"] == 5
    skipped = [value for key, value in parent.data.tags.items() if key.startswith("skipped_job_")]
    assert sum("stress=downscale is geometric" in reason for reason in skipped) == 2
    assert sum("severity 5 would repeat its severity-1 job" in reason for reason in skipped) == 3
    none_runs = [child for child in children if child.data.params["detector.name"] == "none"]
    assert {child.data.params["dataset.name"] for child in none_runs} == {"lfw_aligned"}
    assert artifact_names(client, parent) >= STRESS_REPORT
    summary = pd.read_csv(client.download_artifacts(parent.info.run_id, "stress_summary.csv", str(tmp_path)))
    assert set(summary["method"]) == {"yunet", "center_crop"}
    assert set(summary["condition"]) == {"downscale", "all"}
    yunet = summary[(summary["method"] == "yunet") & (summary["condition"] == "downscale")].iloc[0]
    assert yunet["severities"] == 2 and yunet["mean_success_rate"] < 1  # a tenth of the size loses faces
    results = pd.read_csv(client.download_artifacts(parent.info.run_id, "stress_results.csv", str(tmp_path)))
    assert set(results["method"]) == {"yunet", "center_crop", "none"}


def test_the_summary_averages_over_severities_and_measures_the_drop_from_clean(tmp_path: Path) -> None:
    face = np.zeros((112, 112, 3), np.uint8)
    runs = [
        StressRun("a", "none", 0, {"accuracy": 0.99, "success_rate": 1.0}, {"x.jpg": face}),
        StressRun("a", "fog", 1, {"accuracy": 0.97, "success_rate": 1.0}, {"x.jpg": face}),
        StressRun("a", "fog", 5, {"accuracy": 0.91, "success_rate": 0.9}, {"x.jpg": face}),
        StressRun("a", "rotation (one-sided)", 3, {"accuracy": 0.95, "success_rate": 0.95}, {"x.jpg": face}),
        StressRun("b", "fog", 1, {"accuracy": 0.9, "success_rate": 1.0}, {"x.jpg": face}),
    ]
    files = stress_report(runs, tmp_path)
    assert {path.name for path in files} == STRESS_REPORT
    summary = pd.read_csv(tmp_path / "stress_summary.csv").set_index(["method", "condition"])
    assert summary.loc[("a", "fog"), "mean_accuracy"] == pytest.approx(0.94)
    assert summary.loc[("a", "fog"), "drop"] == pytest.approx(0.05)
    assert summary.loc[("a", "all"), "mean_accuracy"] == pytest.approx((0.97 + 0.91 + 0.95) / 3)
    assert summary.loc[("a", "all"), "relative_degradation"] == pytest.approx((0.99 - 0.94333333) / 0.99)
    assert np.isnan(summary.loc[("b", "fog"), "drop"])  # no clean job for b
    markdown = (tmp_path / "stress_summary.md").read_text()
    assert "| a | 99.00 | 94.00 | 95.00 | 94.33 |" in markdown


def test_each_condition_and_severity_says_which_methods_differ(tmp_path: Path) -> None:
    """Within one cell, a method right on every pair and one at chance fall in different groups;
    two identical methods share one."""
    rng = np.random.default_rng(0)
    count = 80
    same = np.tile([1, 0], count // 2)
    base = pd.DataFrame(
        {
            "fold": np.repeat([0, 1], count // 2),
            "image_a": [f"a{index}.jpg" for index in range(count)],
            "image_b": [f"b{index}.jpg" for index in range(count)],
            "same": same,
            "both_detected": 1,
        }
    )
    perfect = base.assign(score=np.where(same == 1, 0.8, 0.1))
    chance = base.assign(score=rng.uniform(0, 1, count))
    face = np.zeros((112, 112, 3), np.uint8)
    runs = [
        StressRun(name, "fog", 3, {"accuracy": 1.0, "success_rate": 1.0}, {"x.jpg": face}, scores)
        for name, scores in (("good", perfect), ("twin", perfect.copy()), ("bad", chance))
    ]
    stress_report(runs, tmp_path)
    groups = pd.read_csv(tmp_path / "stress_significance.csv").set_index("method")
    assert groups.loc["good", "group"] == groups.loc["twin", "group"] == "a"
    assert groups.loc["bad", "group"] == "b" and groups.loc["bad", "pairs"] == count
    markdown = (tmp_path / "stress_summary.md").read_text()
    assert "| fog | 3 | 80 | good 100.00 (a), twin 100.00 (a), bad" in markdown
    assert markdown.rstrip().endswith("share no group: fog 3.")
