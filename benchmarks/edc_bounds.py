"""How far can any per-image quality signal go? Oracle bounds on the error-versus-discard curve.

    python benchmarks/edc_bounds.py                              # YuNet, Gaussian noise 3, LFW folds 0-1
    python benchmarks/edc_bounds.py --out outputs/edc_bounds.json
    python benchmarks/edc_bounds.py stress=motion_blur           # Hydra overrides, after the defaults

An acceptance line such as "some signal's pAUC up to 20 % discard below 0.8 x random" asks how
fast discarding the genuine comparisons of the lowest quality removes the false non-matches at
the run's threshold. One real run gives every real signal's curve; three oracles, scored on the
same pairs and threshold, with a pair's quality the lower of its two images' as for the real
signals, show how low such a curve can go on this run at all:

* ``oracle_noise_damage``: per image, the similarity between the embedding of the face as the
  run saw it (stressed) and that of the same face (the run's box and landmarks, aligned by the
  run's aligner) on the clean image: how far the stress moved that image's features. Defined on
  a stressed run only.
* ``oracle_worst_genuine``: per image, the lowest score of the genuine pairs it is in (an image
  in none is never the worse of a pair): the image is as bad as its worst genuine comparison.
* ``oracle_pair_score``: the pair's own score as its quality. A pair-level bound: it discards
  the false non-matches first, so it is the ideal curve up to ties and one-pair steps. A
  per-image signal cannot reach it, as an image's one value serves every pair it is in.

The oracles use what no quality signal can know (the clean image, the labels, the pair's
score), so a real signal beating them is not expected: they bound what an acceptance line can
ask of a signal. Each figure is ``pauc_20 / random_pauc_20``: 1 is chance, lower is better, and
no curve goes below the ideal's ratio.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from bench.cache import bytes_digest
from bench.cli import compose_config
from bench.config import BenchConfig, to_bench_config
from bench.cpu import cpu_info
from bench.data import decode_image_bytes, read_image_bytes
from bench.detectors.base import Face
from bench.metrics.edc import EdcResult, error_versus_discard, pair_quality
from bench.metrics.evaluation import pair_scores
from bench.models.similarity import similarity_named
from bench.pipeline import BenchmarkRunner
from bench.pipeline.batching import chunks
from bench.pipeline.records import ImageRecord

#: The run of the issue: YuNet on LFW folds 0-1 under Gaussian noise at severity 3.
DEFAULT_OVERRIDES = (
    "detector=yunet",
    "stress=gaussian_noise",
    "stress.severity=3",
    "dataset.folds=[0,1]",
    "cache=off",
    "quality.mirror_agreement=true",
)


def config(overrides: Sequence[str]) -> BenchConfig:
    """The typed config ``python -m bench progress=false OVERRIDES`` would run."""
    return to_bench_config(compose_config(["progress=false", *overrides]))


def oracle_worst_genuine(
    scores: np.ndarray, labels: np.ndarray, index_a: np.ndarray, index_b: np.ndarray, num_images: int
) -> np.ndarray:
    """Per image, the lowest score of the scored genuine pairs it is in; ``+inf`` (the best
    quality: never the worse of a pair) for an image in none."""
    scores = np.asarray(scores, dtype=np.float64)
    genuine = np.asarray(labels, dtype=bool) & np.isfinite(scores)
    worst = np.full(num_images, np.inf)
    np.minimum.at(worst, np.asarray(index_a)[genuine], scores[genuine])
    np.minimum.at(worst, np.asarray(index_b)[genuine], scores[genuine])
    return worst


def oracle_pair_score(scores: np.ndarray, labels: np.ndarray, target_fmr: float) -> EdcResult:
    """The curve of the scored pairs with each pair's own score as its quality."""
    scored = np.isfinite(scores)
    kept = np.asarray(scores)[scored]
    return error_versus_discard("oracle_pair_score", kept, np.asarray(labels)[scored], kept, target_fmr)


def image_curve(
    name: str,
    quality: np.ndarray,
    scores: np.ndarray,
    labels: np.ndarray,
    index_a: np.ndarray,
    index_b: np.ndarray,
    target_fmr: float,
) -> EdcResult:
    """The curve of a per-image quality (higher = better, NaN = lowest) on the scored pairs, drawn
    as the run draws its signals': a pair's quality is the lower of its two images'."""
    scored = np.isfinite(scores)
    pairs = pair_quality(quality[index_a], quality[index_b])[scored]
    return error_versus_discard(
        name, np.asarray(scores)[scored], np.asarray(labels)[scored], pairs, target_fmr
    )


def ratio(curve: EdcResult) -> float:
    """``pauc_20`` over chance's; NaN where there is no false non-match to discard."""
    return curve.pauc_20 / curve.random_pauc_20 if curve.random_pauc_20 > 0 else math.nan


def face_on_clean(face: Face, transform: np.ndarray) -> Face:
    """``face``, found on the stressed image, where it lies on the clean one: a geometric
    condition moved it by ``transform`` (clean to stressed); a photometric one, whose transform
    is the identity, leaves it where it is."""
    back = cv2.invertAffineTransform(np.asarray(transform, dtype=np.float64))

    def moved(points: np.ndarray) -> np.ndarray:
        return points @ back[:, :2].T + back[:, 2]

    x1, y1, x2, y2 = face.box
    corners = moved(np.array([[x1, y1], [x2, y1], [x1, y2], [x2, y2]], dtype=np.float64))
    box = np.concatenate([corners.min(axis=0), corners.max(axis=0)])
    landmarks = None if face.landmarks is None else moved(face.landmarks.astype(np.float64))
    return dataclasses.replace(face, box=box, landmarks=landmarks)


def reembed(runner: BenchmarkRunner, records: Sequence[ImageRecord]) -> tuple[np.ndarray, np.ndarray]:
    """Every embedded record's face embedded again, as the run saw it and on the clean image;
    NaN rows for the records the run did not embed. The run keeps no image, so each is read and
    degraded again from its bytes, which seed its stress, and aligned by the run's aligner (its
    template, at the model's input size)."""
    root = runner.dataset.image_root
    shape = (len(records), runner.family.embedding_dim)
    as_run, clean = np.full(shape, np.nan, np.float32), np.full(shape, np.nan, np.float32)
    embedded = [index for index, record in enumerate(records) if record.face is not None]
    for batch in chunks(embedded, runner.runtime.embed_batch_size):
        clean_images, clean_faces, run_images, run_faces = [], [], [], []
        for index in batch:
            record = records[index]
            assert record.face is not None
            data = read_image_bytes(root / record.path, root)
            image = decode_image_bytes(data, root / record.path, runner.config.dataset.max_image_pixels)
            stressed, transform = image, np.eye(2, 3)
            if record.stressed:
                digest = bytes_digest(data)
                degraded = runner.stress.apply(image, digest, runner.stress.draw_donor(digest, record.path))
                stressed, transform = degraded.image, degraded.transform
            clean_images.append(image)
            clean_faces.append(face_on_clean(record.face, transform))
            run_images.append(stressed)
            run_faces.append(record.face)
        clean[batch] = runner.embedder.embed(runner.faces.align(clean_images, clean_faces))
        as_run[batch] = runner.embedder.embed(runner.faces.align(run_images, run_faces))
    return as_run, clean


def measure(overrides: Sequence[str]) -> dict[str, Any]:
    """One run, and every real signal's and oracle's ratio on its pairs, as the report's JSON."""
    with BenchmarkRunner(config(overrides)) as runner:
        result = runner.run()
        if result.verification is None:
            raise SystemExit("the bounds are for pairs of images, not IJB templates")
        scores, labels = result.scores, np.asarray(result.dataset.labels)
        index_a, index_b = result.index_a, result.index_b
        target_fmr = runner.config.quality.target_fmr
        similarity = runner.family.similarity
        reference = oracle_pair_score(scores, labels, target_fmr)
        curves = {}
        skipped: dict[str, str] = {}
        rescored_max_diff = None
        if runner.stress.active:
            as_run, clean = reembed(runner, result.records)
            damage = similarity_named(similarity).rows(as_run, clean)
            curves["oracle_noise_damage"] = image_curve(
                "oracle_noise_damage", damage, scores, labels, index_a, index_b, target_fmr
            )
            # How closely the faces embedded again are those the run scored.
            rescored = pair_scores(as_run, index_a, index_b, similarity)
            rescored_max_diff = float(np.nanmax(np.abs(rescored - scores)))
        else:
            skipped["oracle_noise_damage"] = "the run is not stressed: its images are the clean ones"
    worst = oracle_worst_genuine(scores, labels, index_a, index_b, len(result.records))
    curves["oracle_worst_genuine"] = image_curve(
        "oracle_worst_genuine", worst, scores, labels, index_a, index_b, target_fmr
    )
    curves["oracle_pair_score"] = reference
    return {
        "cpu": str(cpu_info()),
        "overrides": list(overrides),
        "threshold": reference.threshold,
        "fmr": reference.fmr,
        "fnmr": reference.initial_fnmr,
        "num_genuine": reference.num_genuine,
        "random_pauc_20": reference.random_pauc_20,
        "ideal_pauc_20": reference.ideal_pauc_20,
        "ideal_ratio": reference.ideal_pauc_20 / reference.random_pauc_20
        if reference.random_pauc_20 > 0
        else math.nan,
        "rescored_max_diff": rescored_max_diff,
        "signals": {curve.signal: ratio(curve) for curve in result.edc},
        "oracles": {name: ratio(curve) for name, curve in curves.items()},
        "skipped": skipped,
    }


def table(report: dict[str, Any]) -> str:
    """The report as text: the run's operating point, then one row per signal and bound."""
    lines = [
        f"CPU: {report['cpu']}",
        f"overrides: {' '.join(report['overrides'])}",
        f"threshold {report['threshold']:.4f} at FMR {report['fmr']:g}: FNMR {report['fnmr']:.4f} "
        f"on {report['num_genuine']} genuine pairs; pAUC_20 random {report['random_pauc_20']:.5f}, "
        f"ideal {report['ideal_pauc_20']:.5f}",
    ]
    if report["rescored_max_diff"] is not None:
        lines.append(f"faces embedded again score the run's pairs within {report['rescored_max_diff']:.1e}")
    lines += ["", "| signal | kind | pAUC_20 / random |", "|---|---|--:|"]
    lines += [f"| {name} | real signal | {value:.3f} |" for name, value in report["signals"].items()]
    lines += [f"| {name} | oracle | {value:.3f} |" for name, value in report["oracles"].items()]
    lines.append(f"| ideal | reference | {report['ideal_ratio']:.3f} |")
    lines += [f"{name} skipped: {reason}" for name, reason in report["skipped"].items()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=None, help="write the report as JSON here")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, after (and so over) the defaults")
    args = parser.parse_args(argv)
    print(f"CPU: {cpu_info()}", flush=True)

    report = measure([*DEFAULT_OVERRIDES, *args.overrides])

    print("\n" + table(report))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2))
        print(f"\n(written to {args.out})")


if __name__ == "__main__":
    main()
