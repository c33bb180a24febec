"""Does the IJB evaluation scale to IJB-C? Synthetic features with IJB-C's counts, timed against
the plain numpy floor of the same work.

    python benchmarks/scale_ijbc.py                      # full size: 469,375 images, 15.7 M pairs
    python benchmarks/scale_ijbc.py --scale 0.1 --out outputs/scale_ijbc.json

Real IJB-C cannot be shipped, but its cost lies in its counts, not in its pixels: this builds a
protocol with IJB-C's counts (times ``--scale``) and unit-length features with identity
structure, runs ``bench.metrics.templates.evaluate_templates`` on them (template features, the
1:1 TAR at FAR table, 1:N against G1 and G2) and times it beside a floor measured in the same
process: the plain numpy segment mean of the features into templates and the 15.7 M gathered
dot products, which any evaluation must do. Memory is the evaluation's peak resident set, in a
fresh process so that nothing measured before inflates it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from scipy.sparse import csr_matrix

from bench.cpu import cpu_info
from bench.data.ijb import IjbProtocol
from bench.metrics import keys
from bench.metrics.templates import evaluate_templates


class IjbcCounts(NamedTuple):
    """IJB-C's sizes as insightface's release has them: ``ijbc_face_tid_mid.txt`` has a row per
    image of each template (469,375; an image in several templates is a row in each); the 1:1
    file pairs gallery with probe templates (15,658,489 pairs, 19,557 genuine); the 1:N files
    split the 3,531 subjects into galleries G1 and G2, one template each, and the 19,593 mixed
    probe templates are the rest of the 23,124. The release does not say how many (template,
    media) groups there are; ``media`` is an estimate from the IJB-C paper's 31,334 still images
    (each its own media) and 11,779 videos (a media each), and each template takes its images
    from its subject's media, so a template holds several. (A NamedTuple: a dataclass needs its
    module in ``sys.modules``, which this script is not when loaded from its file.)"""

    images: int = 469_375
    media: int = 31_334 + 11_779
    gallery_g1: int = 1_772
    gallery_g2: int = 1_759
    probes: int = 19_593
    pairs: int = 15_658_489
    genuine: int = 19_557

    @property
    def subjects(self) -> int:
        return self.gallery_g1 + self.gallery_g2

    @property
    def templates(self) -> int:
        return self.subjects + self.probes

    def scaled(self, scale: float) -> IjbcCounts:
        """Every count times ``scale``, rounded, at least 1 (so both galleries and genuine pairs
        exist at any scale)."""
        if scale <= 0:
            raise ValueError(f"scale must be positive, got {scale}")
        return IjbcCounts(*(max(round(count * scale), 1) for count in self))


IJBC = IjbcCounts()
DIM = 512
#: Never read: the features are given, so no loose crop or meta file exists under it.
SYNTHETIC_ROOT = Path("synthetic") / "IJBC"
#: A template's condition (pose, light, capture) moves all its images off the subject's direction
#: by a norm of about this (a log-normal spread): what makes genuine templates disagree, so that
#: TAR at FAR 1e-4 and TPIR at FPIR 1e-2 are neither 0 nor 1. Each image adds its own noise.
TEMPLATE_OFFSET = 2.0
TEMPLATE_OFFSET_SPREAD = 0.5
IMAGE_NOISE = 1.0
#: Rows of features generated at once, so building them never holds more than one chunk of temporaries.
_CHUNK = 8_192
#: Pairs scored at once by the floor: two gathered float32 blocks of 256 KB stay in a core's L2 cache.
_FLOOR_BATCH = 128
#: Heads of the two tables, so a reader sees the evaluation computed something.
HEADLINE = (keys.tar_at_far(keys.IJB_HEADLINE_FAR), keys.tpir_at_fpir(1e-2))


def synthetic_ijbc(scale: float = 1.0, seed: int = 0) -> tuple[IjbProtocol, np.ndarray]:
    """A protocol with IJB-C's counts times ``scale`` and its images' unit-length float32
    features: each subject a random direction, each template that direction moved by its own
    offset, each image the template's point plus noise. Rows are grouped by template in id order
    (as the release's file); each subject has one gallery template (G1 or G2) and the probes are
    other templates of random subjects; each probe is paired with a run of gallery templates,
    its mate first when the probe is one of the ``genuine``."""
    counts = IJBC.scaled(scale)
    rng = np.random.default_rng(seed)
    num_subjects, num_templates = counts.subjects, counts.templates
    # Template index t < num_subjects: subject t's gallery template; the rest are probes.
    template_subject = np.concatenate(
        [np.arange(num_subjects), rng.integers(num_subjects, size=counts.probes)]
    )
    ids = 1 + rng.permutation(num_templates)
    popularity = rng.lognormal(0, 1, num_templates)
    sizes = 1 + rng.multinomial(counts.images - num_templates, popularity / popularity.sum())
    by_id = np.argsort(ids)
    image_template = np.repeat(by_id, sizes[by_id])
    image_subject = template_subject[image_template]

    # Media: one per subject at least, the rest to random subjects; an image takes one of its subject's.
    media_subject = np.concatenate(
        [np.arange(num_subjects), rng.integers(num_subjects, size=counts.media - num_subjects)]
    )
    media_by_subject = np.argsort(media_subject, kind="stable")
    media_count = np.bincount(media_subject, minlength=num_subjects)
    first_media = np.cumsum(media_count) - media_count
    pick = (rng.random(counts.images) * media_count[image_subject]).astype(np.int64)
    medias = 1 + media_by_subject[first_media[image_subject] + pick]

    directions = rng.standard_normal((num_subjects, DIM), dtype=np.float32)
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    offset_norms = TEMPLATE_OFFSET * rng.lognormal(0, TEMPLATE_OFFSET_SPREAD, num_templates).astype(
        np.float32
    )
    offsets = (
        rng.standard_normal((num_templates, DIM), dtype=np.float32) * (offset_norms / np.sqrt(DIM))[:, None]
    )
    features = np.empty((counts.images, DIM), dtype=np.float32)
    for start in range(0, counts.images, _CHUNK):
        rows = slice(start, start + _CHUNK)
        chunk = features[rows]
        rng.standard_normal(dtype=np.float32, out=chunk)
        chunk *= IMAGE_NOISE / np.sqrt(DIM)
        chunk += directions[image_subject[rows]]
        chunk += offsets[image_template[rows]]
        chunk /= np.linalg.norm(chunk, axis=1, keepdims=True)

    pairs_a, pairs_b, labels = _pairs(counts, template_subject[num_subjects:], rng)
    g1 = np.arange(counts.gallery_g1)
    g2 = np.arange(counts.gallery_g1, num_subjects)
    probes = np.arange(num_subjects, num_templates)
    protocol = IjbProtocol(
        root=SYNTHETIC_ROOT,
        target="IJBC",
        image_names=tuple(f"{row}.jpg" for row in range(1, counts.images + 1)),
        templates=ids[image_template],
        medias=medias,
        landmarks=np.zeros((counts.images, 5, 2), dtype=np.float32),
        detector_scores=rng.uniform(0.6, 1.0, counts.images).astype(np.float32),
        pairs_a=ids[pairs_a],
        pairs_b=ids[num_subjects + pairs_b],
        labels=labels,
        probe_subjects=dict(zip(ids[probes].tolist(), (1 + template_subject[probes]).tolist(), strict=True)),
        gallery_subjects={
            name: dict(zip(ids[gallery].tolist(), (1 + gallery).tolist(), strict=True))
            for name, gallery in (("G1", g1), ("G2", g2))
        },
    )
    return protocol, features


def _pairs(
    counts: IjbcCounts, probe_subject: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The 1:1 pairs as (gallery template index = its subject, probe index, label): each probe
    gets ``pairs / probes`` pairs (the remainder to the first), a run of gallery templates in a
    random ring order starting after its mate's place, the mate itself first for a genuine
    probe. The pairs are distinct while a probe's run is shorter than the gallery, as at full
    size (some 800 of 3,531); smaller scales repeat some, as their pairs outnumber the grid."""
    num_subjects, num_probes = counts.subjects, counts.probes
    per_probe = np.full(num_probes, counts.pairs // num_probes)
    per_probe[: counts.pairs % num_probes] += 1
    genuine = np.zeros(num_probes, dtype=bool)
    genuine[rng.permutation(num_probes)[: counts.genuine]] = True
    probe = np.repeat(np.arange(num_probes), per_probe)
    place = np.arange(counts.pairs) - np.repeat(np.cumsum(per_probe) - per_probe, per_probe)
    labels = genuine[probe] & (place == 0)
    impostor = place - genuine[probe]  # 0, 1, ... over each probe's impostor pairs
    ring = rng.permutation(num_subjects)
    position = np.argsort(ring)[probe_subject[probe]]
    steps = np.where(labels, 0, 1 + impostor % max(num_subjects - 1, 1))
    gallery = ring[(position + steps) % num_subjects]
    return gallery, probe, labels.astype(np.int64)


def floor_template_features(
    features: np.ndarray, templates: np.ndarray, medias: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The template features by plain numpy in float32, ``(template_ids, features)`` as
    ``template_features``: each image weighted by its detector score over its media's size and
    summed per template by one (templates x images) sparse product, 10x faster than
    ``np.add.reduceat`` on rows sorted by template; then normalised."""
    ids, rows = np.unique(templates, return_inverse=True)
    media_rows = np.unique(medias, return_inverse=True)[1]
    _, media_of, media_sizes = np.unique(
        rows * (media_rows.max() + 1) + media_rows, return_inverse=True, return_counts=True
    )
    summing = csr_matrix(
        ((weights / media_sizes[media_of]).astype(np.float32), (rows, np.arange(rows.size))),
        shape=(ids.size, rows.size),
    )
    sums = summing @ features
    sums /= np.linalg.norm(sums, axis=1, keepdims=True)
    return ids, sums


def floor_pair_scores(
    template_ids: np.ndarray, template_features: np.ndarray, pairs_a: np.ndarray, pairs_b: np.ndarray
) -> np.ndarray:
    """Each pair's dot product by plain numpy: the rows looked up in the sorted ids, gathered and
    multiplied a cache-sized batch at a time."""
    rows_a, rows_b = np.searchsorted(template_ids, pairs_a), np.searchsorted(template_ids, pairs_b)
    scores = np.empty(rows_a.size, dtype=template_features.dtype)
    for start in range(0, rows_a.size, _FLOOR_BATCH):
        batch = slice(start, start + _FLOOR_BATCH)
        np.einsum(
            "ij,ij->i", template_features[rows_a[batch]], template_features[rows_b[batch]], out=scores[batch]
        )
    return scores


def floor_seconds(protocol: IjbProtocol, features: np.ndarray) -> float:
    """The wall time of the floor: the template features and the pairs' scores by plain numpy,
    the work any evaluation must do before sorting scores into a ROC."""
    start = time.perf_counter()
    ids, templates = floor_template_features(
        features, protocol.templates, protocol.medias, protocol.detector_scores
    )
    floor_pair_scores(ids, templates, protocol.pairs_a, protocol.pairs_b)
    return time.perf_counter() - start


def _status_mb(field: str) -> float:
    """A ``/proc/self/status`` memory figure (``VmRSS``, ``VmHWM``), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def measure_in_process(scale: float = 1.0) -> dict[str, Any]:
    """Build the synthetic IJB-C, then time ``evaluate_templates`` on it with the peak resident
    set of that call alone (Linux's ``clear_refs`` resets the high-water mark after the build, so
    its temporaries do not count), then the floor: in this process, which should be fresh."""
    protocol, features = synthetic_ijbc(scale)
    detected = np.ones(len(features), dtype=bool)
    baseline = _status_mb("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")
    start = time.perf_counter()
    evaluation = evaluate_templates(
        protocol, features, detected=detected, fallback=~detected, weights=protocol.detector_scores
    )
    seconds = time.perf_counter() - start
    peak = _status_mb("VmHWM")
    floor = floor_seconds(protocol, features)
    return {
        "scale": scale,
        "images": len(features),
        "templates": int(np.unique(protocol.templates).size),
        "pairs": int(protocol.pairs_a.size),
        "seconds": seconds,
        "floor_seconds": floor,
        "ratio": seconds / floor,
        "peak_rss_mb": peak,
        "baseline_rss_mb": baseline,
        **{key: evaluation.metrics[key] for key in HEADLINE},
    }


def measure_ijbc(scale: float = 1.0) -> dict[str, Any]:
    """:func:`measure_in_process` in a fresh Python process (this script, run again), so that its
    peak memory is the evaluation's alone, whatever this process has done or holds."""
    child = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--scale", repr(scale), "--in-process"],
        capture_output=True,
        text=True,
        check=False,
    )
    if child.returncode != 0:
        raise RuntimeError(f"the IJB-C measurement failed (exit {child.returncode}):\n{child.stderr}")
    return json.loads(child.stdout.splitlines()[-1])


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=1.0, help="IJB-C's counts times this (default 1)")
    parser.add_argument("--out", type=Path, default=None, help="write the report as JSON here")
    # The child of measure_ijbc: measure here and print the figures as one JSON line.
    parser.add_argument("--in-process", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.in_process:
        print(json.dumps(measure_in_process(args.scale)))
        return
    print(f"CPU: {cpu_info()}", flush=True)
    report = measure_ijbc(args.scale)
    print(
        f"IJB-C x {args.scale:g}: {report['images']:,} images, {report['templates']:,} templates, "
        f"{report['pairs']:,} pairs\n"
        f"evaluation {report['seconds']:.2f} s, floor {report['floor_seconds']:.2f} s "
        f"(ratio {report['ratio']:.2f}); peak RSS {report['peak_rss_mb']:,.0f} MB "
        f"(after building the data {report['baseline_rss_mb']:,.0f} MB)\n"
        + ", ".join(f"{key} {report[key]:.4f}" for key in HEADLINE)
    )
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"cpu": str(cpu_info()), "ijbc": report}, indent=2))
        print(f"(written to {args.out})")


if __name__ == "__main__":
    main()
