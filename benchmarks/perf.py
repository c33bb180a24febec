"""Throughput benchmark: the naive and the fast pipeline, cold and cache-warm, in one process.

    python benchmarks/perf.py                      # full LFW (7,701 images), YuNet + EdgeFace-XS
    python benchmarks/perf.py --pairs-per-fold 60  # a quick subset
    python benchmarks/perf.py -- detector=mtcnn    # any Hydra overrides after --

Two baselines run first, both one image at a time with no workers, overlap or cache
(``pipeline=naive``): the plain loop, on each library's reference kernels (eager PyTorch for
the model, OpenCV's ``FaceDetectorYN`` for YuNet), which is what a first script would do; and
the same loop on the fast kernels (ONNX Runtime), which isolates what the pipeline itself adds.
The fast pipeline then runs without a cache (the cold figure), filling an empty cache (what
writing it costs), and again on the filled cache (warm).

Every run uses the same images. Stage figures are busy time per image, summed over the
stage's threads (in the fast pipeline the stages share the cores, so they exceed the floors).
The floors are each stage alone on a sample of the images (decode on the decoding workers, the
detector on its thread budget, the model at its best batch); their bound is what the cores
could do if the stages overlapped perfectly. Ratios, not absolute figures, are what to compare
across machines.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from bench.calibrate import time_batches
from bench.cli import compose_config
from bench.config import BenchConfig, to_bench_config
from bench.cpu import cpu_info
from bench.data import decode_image
from bench.detectors import Detector, create_detector, select_face
from bench.metrics import keys
from bench.models import EmbedSettings
from bench.paths import project_root
from bench.pipeline import BenchmarkRunner
from bench.pipeline.face_source import DetectedFaces

FLOOR_SAMPLE = 512
MODEL_BATCHES = (16, 32, 64, 128, 256)
#: The reference implementation of each detector that has several backends.
REFERENCE_DETECTOR_BACKENDS = {"yunet": "opencv", "yolov8_face": "ultralytics"}


def plain_kernels(overrides: list[str]) -> list[str]:
    """Overrides that put the model, and the detector where it has a choice, on the reference
    kernels."""
    detector = config(overrides).detector.name
    backend = REFERENCE_DETECTOR_BACKENDS.get(detector)
    detector_backend = [f"detector.options.backend={backend}"] if backend else []
    return ["hardware.embed_backend=torch", *detector_backend]


def config(overrides: list[str]) -> BenchConfig:
    return to_bench_config(compose_config(["progress=false", *overrides]))


def run(name: str, overrides: list[str]) -> dict[str, Any]:
    print(f"-- {name}: {' '.join(overrides)}", flush=True)
    with BenchmarkRunner(config(overrides)) as runner:
        result = runner.run()
    metrics, used = result.metrics, result.runtime
    accuracy = 100 * metrics[keys.ACCURACY]
    print(f"   {metrics[keys.IMAGES_PER_S]:.1f} images/s, accuracy {accuracy:.2f} %", flush=True)
    counts = (
        f"decode {used['workers_decode']}, detect {used['workers_detect']} x {used['threads_detect']}, "
        f"embed {used['workers_embed']} x {used['threads_embed']}; from {used['counts_from']}"
    )
    return {"name": name, "counts": counts, **metrics}


def per_image_ms(action: Callable[[], Any], count: int) -> float:
    started = time.perf_counter()
    action()
    return 1000 * (time.perf_counter() - started) / count


def beside_each_other(actions: list[Callable[[], Any]], count: int) -> float:
    """Per-item ms of each of ``actions`` (``count`` items each) run at once, a thread each,
    averaged: a stage's floor while the other cores do the same work. Running alone, a stage
    has the machine's caches, memory bandwidth and clock to itself; in the pipeline it shares
    them, so this is the floor the overlapped stages can reach."""
    start = threading.Barrier(len(actions))
    times: list[float] = []

    def timed(action: Callable[[], Any]) -> None:
        start.wait()
        times.append(per_image_ms(action, count))

    threads = [threading.Thread(target=timed, args=(action,)) for action in actions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(times) / len(times)


def floors(runner: BenchmarkRunner) -> dict[str, Any]:
    """Each stage alone on a sample of the images after a warm-up, on one worker at the run's
    threads; then beside copies of itself filling every core (``*_shared_ms``). Decoding's
    figures are one thread's."""
    root, paths = runner.dataset.image_root, runner.dataset.images[:FLOOR_SAMPLE]
    cores = cpu_info().cores

    def decode(path: str) -> np.ndarray:
        return decode_image(root / path, root, runner.config.dataset.max_image_pixels)

    def decode_all() -> list[np.ndarray]:
        return [decode(path) for path in paths]

    images = decode_all()
    decode_ms = per_image_ms(decode_all, len(paths))
    decode_shared_ms = beside_each_other([decode_all] * cores, len(paths))
    assert isinstance(runner.faces, DetectedFaces), "the stage floors are measured for a method that detects"
    runtime, batch = runner.runtime, runner.config.hardware.batch_size
    detectors = [runner.faces.pool.detectors[0]]
    detectors += [
        create_detector(runner.config.detector.name, runtime, runner.config.detector.options)
        for _ in range(max(1, cores // runtime.detect_threads) - 1)
    ]
    found: list[Any] = []

    def detect_all(detector: Detector, keep: list[Any]) -> None:
        for start in range(0, len(images), batch):
            keep.extend(detector.detect(images[start : start + batch]))

    for detector in detectors:
        detector.detect(images[:batch])
    detect_ms = per_image_ms(lambda: detect_all(detectors[0], found), len(images))
    detect_shared_ms = beside_each_other(
        [partial(detect_all, detector, []) for detector in detectors], len(images)
    )
    for detector in detectors[1:]:
        detector.close()
    chosen = [(image, select_face(faces, image.shape)) for image, faces in zip(images, found, strict=True)]
    with_face = [(image, face) for image, face in chosen if face is not None]
    align_ms = per_image_ms(
        lambda: runner.faces.aligner.align(
            [image for image, _ in with_face], [face for _, face in with_face]
        ),
        max(1, len(with_face)),
    )
    embedder = runner.embedder
    embed_ms = time_batches(embedder, runner.family.input.face_shape, MODEL_BATCHES)
    best = min(embed_ms, key=embed_ms.__getitem__)
    faces = np.random.default_rng(0).integers(0, 256, (max(MODEL_BATCHES), *runner.family.input.face_shape))
    faces = faces.astype(np.uint8)
    settings = EmbedSettings.from_hardware(runner.config.hardware, runtime.embed_batch_size)
    embedders = [embedder] + [
        runner.family.build(runner.config.model, runtime, settings)
        for _ in range(max(1, cores // runtime.embed_threads) - 1)
    ]
    for copy in embedders:
        copy.batch_size = best
        copy.embed(faces[:best])
    embed_shared_ms = beside_each_other([partial(copy.embed, faces) for copy in embedders], len(faces))
    return {
        "decode_ms": decode_ms,
        "decode_shared_ms": decode_shared_ms,
        "decode_workers": runtime.decode_workers,
        "detect_ms": detect_ms,
        "detect_shared_ms": detect_shared_ms,
        "detect_threads": runtime.detect_threads,
        "align_ms": align_ms,
        "embed_ms": embed_ms[best],
        "embed_shared_ms": embed_shared_ms,
        "embed_batch": best,
        "embed_threads": runtime.embed_threads,
        "embed_workers": runtime.embed_workers,
        "detect_workers": runtime.detect_workers,
    }


def bound(floor: dict[str, Any], cores: int, shared: bool = False) -> float:
    """Images/s if the stages overlapped perfectly: limited by the cores' total work and by the
    slowest stage on its own workers (the detector's and the model's floors are wall times on
    one worker's threads; alignment runs on the detecting worker, after detection; decoding's
    is one thread's). ``shared``: with the floors measured beside copies of themselves."""
    suffix = "_shared_ms" if shared else "_ms"
    decode, detect, embed = (floor[f"{stage}{suffix}"] for stage in ("decode", "detect", "embed"))
    core_ms = decode + detect * floor["detect_threads"] + floor["align_ms"] + embed * floor["embed_threads"]
    slowest = max(
        decode / max(1, floor["decode_workers"]),
        (detect + floor["align_ms"]) / floor["detect_workers"],
        embed / floor["embed_workers"],
    )
    return min(1000 * cores / core_ms, 1000 / slowest)


def table(runs: list[dict[str, Any]]) -> str:
    header = "| run | images/s | " + " | ".join(f"{s} ms/image" for s in keys.STAGES)
    header += " | peak RSS MiB | accuracy | computed |\n|---|" + "---|" * (len(keys.STAGES) + 4) + "\n"
    rows = []
    for r in runs:
        computed = int(r[keys.NUM_IMAGES_COMPUTED])
        stages = " | ".join(f"{r[keys.ms_per_image(s)]:.2f}" if computed else "-" for s in keys.STAGES)
        rows.append(
            f"| {r['name']} | {r[keys.IMAGES_PER_S]:.1f} | {stages} | {r[keys.PEAK_RSS_MB]:.0f} | "
            f"{100 * r[keys.ACCURACY]:.2f} % | {computed}/{int(r[keys.NUM_IMAGES])} |"
        )
    return header + "\n".join(rows)


def stage_cpu_ms(floor: dict[str, Any], shared: bool) -> dict[str, float]:
    """The CPU ms an image costs each stage at its floor (detection's with alignment)."""
    suffix = "_shared_ms" if shared else "_ms"
    return {
        "decode": floor[f"decode{suffix}"],
        "detect": floor[f"detect{suffix}"] * floor["detect_threads"] + floor["align_ms"],
        "embed": floor[f"embed{suffix}"] * floor["embed_threads"],
    }


def accounting(metrics: dict[str, Any], floor: dict[str, Any]) -> str:
    """Where the fast run's time went, per thread group: its busy wall time (the stage timers;
    detection's includes alignment, which runs on its threads), the CPU its threads took beside
    the stage's floor alone and shared (``floors``), how often they waited and how often the
    scheduler took their core away. Decoding inline (no decoding workers) counts under the
    thread that does it."""
    images = max(1.0, metrics[keys.NUM_IMAGES_COMPUTED])
    busy = {
        "decode": metrics[keys.time_s("decode")],
        "detect": metrics[keys.time_s("detect")] + metrics[keys.time_s("align")],
        "embed": metrics[keys.time_s("embed")],
    }
    alone, shared = stage_cpu_ms(floor, shared=False), stage_cpu_ms(floor, shared=True)
    lines = [
        "| threads | busy ms/image | CPU ms/image | floor alone | floor shared | threads | waits "
        "| preemptions |",
        "|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for group in keys.THREAD_GROUPS:
        wall, low, high = (
            (f"{1000 * busy[group] / images:.2f}", f"{alone[group]:.2f}", f"{shared[group]:.2f}")
            if group in busy
            else ("-", "-", "-")
        )
        lines.append(
            f"| {group} | {wall} | {1000 * metrics[keys.cpu_s(group)] / images:.2f} | {low} | {high} | "
            f"{metrics[keys.threads(group)]:.0f} | {metrics[keys.switches(group, voluntary=True)]:.0f} | "
            f"{metrics[keys.switches(group, voluntary=False)]:.0f} |"
        )
    lines.append(
        f"CPU {1000 * metrics[keys.CPU_TOTAL_S] / images:.2f} ms/image in all (floors: "
        f"{sum(alone.values()):.2f} alone, {sum(shared.values()):.2f} shared), "
        f"{100 * metrics[keys.CPU_UTILISATION]:.0f} % of the cores' time; "
        f"{metrics[keys.THREADS_PEAK]:.0f} threads alive at most"
    )
    return "\n".join(lines)


def describe_floors(floor: dict[str, Any]) -> str:
    return (
        f"floors on {FLOOR_SAMPLE} images, alone / beside copies on every core: decode "
        f"{floor['decode_ms']:.2f} / {floor['decode_shared_ms']:.2f} ms/image (a thread), detect "
        f"{floor['detect_ms']:.2f} / {floor['detect_shared_ms']:.2f} ms/image ({floor['detect_threads']} "
        f"threads), align {floor['align_ms']:.2f} ms/image, embed {floor['embed_ms']:.2f} / "
        f"{floor['embed_shared_ms']:.2f} ms/face at batch {floor['embed_batch']} "
        f"({floor['embed_threads']} threads)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pairs-per-fold", type=int, default=None, help="a subset: pairs per fold")
    parser.add_argument("--out", type=Path, default=project_root() / "outputs" / "perf.json")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for every run")
    args = parser.parse_args()
    subset = [f"dataset.pairs_per_fold={args.pairs_per_fold}"] if args.pairs_per_fold else []
    common = [*subset, *args.overrides]

    with tempfile.TemporaryDirectory(prefix="bench-perf-cache-") as cache_dir:
        cached = [f"cache.dir={cache_dir}", "cache.enabled=true"]
        runs = [
            run("naive, plain kernels", [*common, "pipeline=naive", *plain_kernels(common)]),
            run("naive, fast kernels", [*common, "pipeline=naive"]),
            run("fast, no cache", [*common, "cache=off"]),
        ]
        # Right after the run they bound: a shared machine's speed drifts within minutes.
        print("-- floors: each stage alone, then beside copies of itself", flush=True)
        with BenchmarkRunner(config(common)) as runner:
            floor = floors(runner)
        runs += [run("fast, cold cache", [*common, *cached]), run("fast, warm cache", [*common, *cached])]

    plain, naive, fast, cold, warm = runs
    cores = cpu_info().cores
    limit, shared = bound(floor, cores), bound(floor, cores, shared=True)
    lines = [
        f"CPU: {cpu_info()}",
        table(runs),
        "",
        f"fast / naive plain: {fast[keys.IMAGES_PER_S] / plain[keys.IMAGES_PER_S]:.2f}x   "
        f"fast / naive on the fast kernels: {fast[keys.IMAGES_PER_S] / naive[keys.IMAGES_PER_S]:.2f}x   "
        f"warm / cold cache: {warm[keys.IMAGES_PER_S] / cold[keys.IMAGES_PER_S]:.1f}x   "
        f"(end to end, same images, same process)",
        describe_floors(floor),
        f"bound on {cores} cores: {limit:.0f} images/s with the floors alone, {shared:.0f} with them "
        f"shared; the fast run without a cache is at {100 * fast[keys.IMAGES_PER_S] / limit:.0f} % / "
        f"{100 * fast[keys.IMAGES_PER_S] / shared:.0f} % of them",
        "",
        f"the fast run without a cache, per thread group ({fast['counts']}):",
        accounting(fast, floor),
        "",
        f"peak RSS: naive plain {plain[keys.PEAK_RSS_MB]:.0f} MiB, naive {naive[keys.PEAK_RSS_MB]:.0f} MiB, "
        f"fast {fast[keys.PEAK_RSS_MB]:.0f} MiB, cold cache {cold[keys.PEAK_RSS_MB]:.0f} MiB, "
        f"warm {warm[keys.PEAK_RSS_MB]:.0f} MiB",
    ]
    report = "\n".join(lines)
    print("\n" + report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    summary = {
        "cpu": str(cpu_info()),
        "runs": runs,
        "floors": floor,
        "bound": limit,
        "bound_shared": shared,
        "report": report,
    }
    args.out.write_text(json.dumps(summary, indent=2))
    print(f"\n(written to {args.out})")


if __name__ == "__main__":
    main()
