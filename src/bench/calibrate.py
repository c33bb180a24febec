"""``bench tune``: measure the pipeline's worker and thread counts on this CPU and keep the fastest
(``bench.tuning``) for every later run on such a CPU.

    bench tune                              # YuNet + EdgeFace-XS on 800 LFW pairs, about 3 minutes
    bench tune --pairs-per-fold 40          # shorter
    bench tune -- detector=mtcnn            # another method (Hydra overrides): its own counts
    bench tune --show                       # this CPU's calibrations

First the model alone times a face at each of a few batch sizes, and the fastest is every
candidate's. Then each candidate runs the real pipeline without a cache on the same images; the
best three and the built-in counts (at the built-in batch) run a second time and keep their
better figure, since a shared machine's speed drifts. Counts that run more threads at once than
there are cores win only by more than ``--margin``: oversubscription has to be measured better,
not assumed.
"""

from __future__ import annotations

import argparse
import datetime
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bench.cli import compose_config
from bench.config import to_bench_config
from bench.cpu import CpuInfo, cpu_info
from bench.metrics import keys
from bench.models import Embedder
from bench.pipeline import BenchmarkRunner
from bench.runtime import (
    DEFAULT_DECODE_WORKERS,
    DEFAULT_DETECT_WORKERS,
    DEFAULT_EMBED_BATCH,
    DEFAULT_EMBED_WORKERS,
    thread_split,
)
from bench.tuning import PipelineCounts, Tuning, cpu_key, load_tuning, method_key, save_tuning, tuning_dir

#: Candidates' worker counts per stage (0 decoders: decoding inline, on the thread that detects);
#: threads per worker follow the built-in split, and two more candidates give one stage's single
#: worker every core.
_DECODERS = (0, 1, 2)
_WORKERS = (1, 2)
#: Faces per forward pass the model is timed at.
_EMBED_BATCHES = (16, 32, 64, 128)


@dataclass(frozen=True)
class Measured:
    counts: PipelineCounts
    images_per_s: float
    images: int


def candidates(cores: int, embed_batch: int) -> list[PipelineCounts]:
    """The counts to measure on ``cores`` cores, at ``embed_batch`` faces a forward pass; the
    built-in counts (at the built-in batch) first."""
    found: list[PipelineCounts] = []
    for detect_workers in _WORKERS:
        for embed_workers in _WORKERS:
            threads = thread_split(cores, True, detect_workers, embed_workers)
            for decode_workers in _DECODERS:
                found.append(
                    PipelineCounts(decode_workers, detect_workers, embed_workers, *threads, embed_batch)
                )
    share = max(1, cores // 2)
    found.append(PipelineCounts(2, 1, 1, share, cores, embed_batch))
    found.append(PipelineCounts(2, 1, 1, cores, share, embed_batch))
    built_in = PipelineCounts(
        DEFAULT_DECODE_WORKERS,
        DEFAULT_DETECT_WORKERS,
        DEFAULT_EMBED_WORKERS,
        *thread_split(cores, True, DEFAULT_DETECT_WORKERS, DEFAULT_EMBED_WORKERS),
        DEFAULT_EMBED_BATCH,
    )
    return [built_in, *(counts for counts in dict.fromkeys(found) if counts != built_in)]


def _runner(overrides: Sequence[str]) -> BenchmarkRunner:
    config = compose_config(
        ["progress=false", "cache=off", "pipeline=fast", "pipeline.tuned=false", *overrides]
    )
    return BenchmarkRunner(to_bench_config(config))


def measure(counts: PipelineCounts, overrides: Sequence[str]) -> Measured:
    with _runner([*overrides, *counts.overrides()]) as runner:
        metrics = runner.run().metrics
    return Measured(counts, metrics[keys.IMAGES_PER_S], int(metrics[keys.NUM_IMAGES]))


def embed_ms_per_face(overrides: Sequence[str]) -> dict[int, float]:
    """The model alone on one worker's threads: ms a face at each of ``_EMBED_BATCHES``."""
    with _runner(overrides) as runner:
        return time_batches(runner.embedder, runner.family.input.face_shape, _EMBED_BATCHES)


def time_batches(embedder: Embedder, face_shape: tuple[int, ...], batches: Sequence[int]) -> dict[int, float]:
    """ms a face at each batch size (``embedder.batch_size`` is left at the last), on the same
    random faces, after a warm-up call; the better of two passes, as a shared machine drifts."""
    faces = np.random.default_rng(0).integers(0, 256, (max(batches), *face_shape), dtype=np.uint8)
    timings = {}
    for batch in batches:
        embedder.batch_size = batch
        embedder.embed(faces[:batch])
        passes = []
        for _ in range(2):
            started = time.perf_counter()
            embedder.embed(faces)
            passes.append(1000 * (time.perf_counter() - started) / len(faces))
        timings[batch] = min(passes)
    return timings


def choose(measured: list[Measured], cores: int, margin: float) -> Measured:
    """The fastest; counts that oversubscribe the cores only if ``margin`` faster than the
    fastest that does not."""
    best = max(measured, key=lambda item: item.images_per_s)
    within = [item for item in measured if item.counts.runnable_threads() <= cores]
    if not within or best.counts.runnable_threads() <= cores:
        return best
    fitting = max(within, key=lambda item: item.images_per_s)
    return best if best.images_per_s > (1 + margin) * fitting.images_per_s else fitting


def calibrate(cpu: CpuInfo, overrides: Sequence[str], margin: float) -> Tuning:
    config = to_bench_config(compose_config(overrides))
    method = method_key(config.detector.name, config.model.name)
    print(f"CPU: {cpu}\nmethod: {method}", flush=True)
    batches = embed_ms_per_face(overrides)
    embed_batch = min(batches, key=batches.__getitem__)
    print(
        "  the model: " + ", ".join(f"{ms:.2f} ms a face at {size}" for size, ms in batches.items()),
        flush=True,
    )
    first = {counts: measure(counts, overrides) for counts in candidates(cpu.cores, embed_batch)}
    for item in first.values():
        print(f"  {describe(item.counts)}: {item.images_per_s:.1f} images/s", flush=True)
    built_in = next(iter(first))
    again = sorted(first.values(), key=lambda item: item.images_per_s, reverse=True)[:3]
    for counts in dict.fromkeys([built_in, *(item.counts for item in again)]):
        repeat = measure(counts, overrides)
        print(f"  again {describe(counts)}: {repeat.images_per_s:.1f} images/s", flush=True)
        if repeat.images_per_s > first[counts].images_per_s:
            first[counts] = repeat
    chosen = choose(list(first.values()), cpu.cores, margin)
    return Tuning(
        counts=chosen.counts,
        images_per_s=chosen.images_per_s,
        default_images_per_s=first[built_in].images_per_s,
        method=method,
        images=chosen.images,
        measured_on=datetime.date.today().isoformat(),
    )


def describe(counts: PipelineCounts) -> str:
    return (
        f"decode {counts.decode_workers}, detect {counts.detect_workers} x {counts.detect_threads}, "
        f"embed {counts.embed_workers} x {counts.embed_threads} at {counts.embed_batch} "
        f"({counts.runnable_threads()} threads)"
    )


def main(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="bench tune", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--pairs-per-fold", type=int, default=80, help="LFW pairs per fold each candidate runs"
    )
    parser.add_argument("--margin", type=float, default=0.03, help="what oversubscribing must win by")
    parser.add_argument("--show", action="store_true", help="print this CPU's calibration and stop")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for every candidate (after --)")
    args = parser.parse_args(argv)
    cpu = cpu_info()
    if args.show:
        folder = tuning_dir() / cpu_key(cpu)
        found = sorted(folder.glob("*.json"))
        print(f"{folder}: {len(found)} calibrations" + ("" if found else "; bench tune measures one"))
        for path in found:
            tuning = load_tuning(path.stem, cpu)
            print(f"  {path.stem}: {tuning.describe() if tuning else 'unreadable'}")
        return
    overrides = [f"dataset.pairs_per_fold={args.pairs_per_fold}", *args.overrides]
    tuning = calibrate(cpu, overrides, args.margin)
    path = save_tuning(tuning, cpu)
    print(f"chosen: {describe(tuning.counts)}\n{tuning.describe()}\nwritten to {path}")
