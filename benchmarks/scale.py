"""Cost against size: does the benchmark's cost per image stay flat from 1,000 to 100,000 images?

    python benchmarks/scale.py --out outputs/scale.json        # 1k, 10k, 100k images; 1M cache rows; IJB-C
    python benchmarks/scale.py --sizes 1000 10000 --cache-rows 100000 --ijbc-scale 0.1   # a quick look

Three parts, each printed with the CPU and written to the JSON:

* ``pipeline``: the real run (YuNet + EdgeFace-XS, ``cache=off``, one ``python -m bench`` process
  per size so that no size inherits another's memory) on ``dataset=pairs`` protocols of 1,000,
  10,000 and 100,000 distinct images: LFW's photos, then copies of them each moved by a few
  pixels and brightened by a seeded amount, so no two images share content and none is served
  twice. Per size: ``images``, ``seconds`` and ``images_per_s`` (the run's own, start-up and
  model loading excluded) and ``peak_rss_mb``.
* ``cache``: the feature cache (one SQLite file) filled to ``--cache-rows`` embedding rows as the
  runner writes them, with the insert and lookup rates at the start and at the end, and the
  file's size.
* ``ijbc``: IJB-C-size evaluation on synthetic features (``scale_ijbc.measure_ijbc``): its time
  beside the plain numpy floor measured in the same run, and its peak memory.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from bench.assets import resolve
from bench.cache import FeatureCache
from bench.cli import compose_config
from bench.config import to_bench_config
from bench.cpu import cpu_info
from bench.metrics import keys
from bench.paths import project_root

SIZES = (1_000, 10_000, 100_000)
CACHE_ROWS = 1_000_000
#: Rows a run writes to the cache per transaction (its embedding batch) and reads per lookup.
CACHE_BATCH = 64
#: The run's cached row: the embedding and the measured quality signals (bench.quality.measured).
CACHE_ROW_FLOATS = 512 + 3
OVERRIDES = ("detector=yunet", "model=edgeface_xs_gamma_06", "cache=off", "progress=false")


def lfw_photos() -> tuple[Path, list[str]]:
    """LFW's folder and its photos (``person/person_0001.jpg``), in name order."""
    root = resolve(to_bench_config(compose_config(["dataset=lfw"])).dataset.images)
    return root, sorted(str(path.relative_to(root)) for path in root.glob("*/*.jpg"))


#: Copy ``k`` of a photo is moved by ``CHANGES[k - 1]`` (pixels right, pixels down) and brightened
#: by its grey levels: distinct for every copy of one photo, so no two images share content.
CHANGES = [(dx, dy, lift) for lift in range(1, 9) for dx in (1, -1, 2, -2, 3, -3) for dy in range(-3, 4)]


def derived_image(source: Path, target: Path, copy: int) -> None:
    """Copy ``copy`` (>= 1) of the photo ``source`` as ``target``: moved and brightened by the
    copy's own change."""
    dx, dy, lift = CHANGES[copy - 1]
    image = cv2.imread(str(source))
    shift = np.array([[1, 0, dx], [0, 1, dy]], dtype=np.float32)
    moved = cv2.warpAffine(image, shift, image.shape[1::-1], borderMode=cv2.BORDER_REFLECT)
    cv2.imwrite(str(target), cv2.add(moved, np.full_like(moved, lift)), [cv2.IMWRITE_JPEG_QUALITY, 95])


def make_protocol(folder: Path, count: int, workers: int = os.cpu_count() or 1) -> Path:
    """``count`` distinct images in ``folder`` (LFW's photos, then copies ``copy_<k>/``) and a
    pairs CSV of consecutive images, same person or not; the CSV's path. Reuses a complete one."""
    protocol = folder / "pairs.csv"
    if protocol.is_file():
        return protocol
    root, photos = lfw_photos()
    names = []
    jobs = []
    for index in range(count):
        copy, position = divmod(index, len(photos))
        photo = photos[position]
        name = photo if copy == 0 else f"copy_{copy}/{photo}"
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if copy == 0:
            target.write_bytes((root / photo).read_bytes())
        else:
            jobs.append((root / photo, target, copy))
        names.append(name)
    if len(photos) * (len(CHANGES) + 1) < count:
        raise SystemExit(f"at most {len(photos) * (len(CHANGES) + 1):,} distinct images can be made")
    if jobs:
        with ProcessPoolExecutor(workers) as pool:
            list(pool.map(derived_image, *zip(*jobs, strict=True), chunksize=256))
    person = [Path(name).parent.name for name in names]
    rows = [(names[i], names[i + 1], int(person[i] == person[i + 1])) for i in range(0, count - 1, 2)]
    with (folder / "pairs.tmp").open("w", newline="") as file:
        csv.writer(file).writerows([("path_a", "path_b", "label"), *rows])
    (folder / "pairs.tmp").replace(protocol)
    return protocol


def run_pipeline(folder: Path, protocol: Path, store: Path) -> dict[str, float]:
    """One ``python -m bench`` run on the protocol; its images, seconds, images/s and peak RSS."""
    out = folder / "run"
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{store}"}
    command = [
        sys.executable,
        "-m",
        "bench",
        *OVERRIDES,
        "dataset=pairs",
        f"dataset.root={folder}",
        f"dataset.pairs_csv={protocol}",
        f"hydra.run.dir={out}",
    ]
    completed = subprocess.run(command, cwd=project_root(), env=env, capture_output=True, text=True)
    if completed.returncode != 0:
        raise SystemExit(f"the run on {folder} failed:\n{completed.stderr[-4000:]}")
    metrics = json.loads((out / "metrics.json").read_text())["metrics"]
    return {
        "images": metrics[keys.NUM_IMAGES],
        "seconds": metrics[keys.TIME_TOTAL_S],
        "images_per_s": metrics[keys.IMAGES_PER_S],
        "peak_rss_mb": metrics[keys.PEAK_RSS_MB],
        "accuracy": metrics[keys.ACCURACY],
    }


def measure_cache(folder: Path, rows: int, probe: int = 20_000) -> dict[str, float]:
    """The feature cache filled to ``rows`` embedding rows in the runner's batches, with insert
    and lookup rates over the first and the last ``probe`` rows, and the file's size."""
    cache = FeatureCache(folder)
    config = "scale"
    rng = np.random.default_rng(0)
    digests = [secrets.token_hex(16) for _ in range(rows)]
    row = rng.standard_normal(CACHE_ROW_FLOATS).astype(np.float32)

    def insert(start: int, stop: int) -> float:
        began = time.perf_counter()
        for first in range(start, stop, CACHE_BATCH):
            cache.put_embeddings(
                config, {digest: row for digest in digests[first : min(first + CACHE_BATCH, stop)]}
            )
        return (stop - start) / (time.perf_counter() - began)

    def lookup(start: int, stop: int) -> float:
        wanted = [digests[i] for i in rng.integers(start, stop, probe)]
        began = time.perf_counter()
        for first in range(0, probe, CACHE_BATCH):
            found = cache.get_embeddings(config, wanted[first : first + CACHE_BATCH])
            assert len(found) == len(set(wanted[first : first + CACHE_BATCH]))
        return probe / (time.perf_counter() - began)

    probe = min(probe, rows)
    first_inserts = insert(0, probe)
    first_lookups = lookup(0, probe)
    insert(probe, rows - probe)
    last_inserts = insert(rows - probe, rows)
    last_lookups = lookup(0, rows)
    cache.close()
    return {
        "rows": rows,
        "inserts_per_s_first": first_inserts,
        "inserts_per_s_last": last_inserts,
        "lookups_per_s_first": first_lookups,
        "lookups_per_s_last": last_lookups,
        "file_mb": sum(path.stat().st_size for path in folder.glob("features.sqlite*")) / 2**20,
    }


def plot(pipeline: Sequence[dict[str, float]], path: Path) -> Path:
    """Images/s and peak RSS against the number of images, on a log axis."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.6), dpi=110, layout="constrained")
    images = [run["images"] for run in pipeline]
    for index, (metric, label) in enumerate((("images_per_s", "images/s"), ("peak_rss_mb", "peak RSS (MB)"))):
        ax = fig.add_subplot(1, 2, index + 1)
        ax.plot(images, [run[metric] for run in pipeline], marker="o")
        ax.set_xscale("log")
        ax.set_ylim(0, 1.15 * max(run[metric] for run in pipeline))
        ax.set_xlabel("distinct images (cache off)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    fig.suptitle(f"YuNet + EdgeFace-XS against size ({cpu_info().name})", fontsize=9)
    fig.savefig(path)
    return path


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="write the figures as JSON here (and a plot beside)"
    )
    parser.add_argument("--sizes", type=int, nargs="*", default=list(SIZES))
    parser.add_argument("--cache-rows", type=int, default=CACHE_ROWS)
    parser.add_argument("--ijbc-scale", type=float, default=1.0, help="IJB-C's counts times this (0: skip)")
    parser.add_argument("--work", type=Path, default=None, help="keep the generated images here (reused)")
    args = parser.parse_args(argv)
    print(f"CPU: {cpu_info()}", flush=True)
    report: dict[str, Any] = {"cpu": str(cpu_info()), "pipeline": []}
    with tempfile.TemporaryDirectory() as scratch:
        work = args.work or Path(scratch)
        for size in sorted(args.sizes):
            folder = work / f"images_{size}"
            started = time.perf_counter()
            protocol = make_protocol(folder, size)
            print(f"{size:>7,} images made in {time.perf_counter() - started:.0f} s", flush=True)
            figures = run_pipeline(folder, protocol, Path(scratch) / "mlruns.db")
            report["pipeline"].append(figures)
            print(
                f"{size:>7,} images: {figures['seconds']:.1f} s, {figures['images_per_s']:.1f} images/s, "
                f"peak RSS {figures['peak_rss_mb']:.0f} MB",
                flush=True,
            )
        if args.cache_rows:
            report["cache"] = measure_cache(Path(scratch) / "cache", args.cache_rows)
            print(
                "cache: " + ", ".join(f"{key} {value:,.0f}" for key, value in report["cache"].items()),
                flush=True,
            )
    if args.ijbc_scale > 0:
        from scale_ijbc import measure_ijbc  # the benchmark beside this one

        report["ijbc"] = measure_ijbc(args.ijbc_scale)
        print("ijbc: " + json.dumps(report["ijbc"]), flush=True)
    if len(report["pipeline"]) > 1:
        first, last = report["pipeline"][0], report["pipeline"][-1]
        report["throughput_ratio"] = last["images_per_s"] / first["images_per_s"]
        report["rss_growth_mb"] = last["peak_rss_mb"] - first["peak_rss_mb"]
        print(
            f"images/s at {last['images']:,.0f} / at {first['images']:,.0f}: "
            f"{report['throughput_ratio']:.3f}; "
            f"peak RSS grew {report['rss_growth_mb']:.0f} MB",
            flush=True,
        )
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2))
        if len(report["pipeline"]) > 1:
            plot(report["pipeline"], args.out.with_suffix(".png"))
        print(f"written to {args.out}")


if __name__ == "__main__":
    main()
