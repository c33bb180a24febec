"""Every method against its own floors: how near each detector's pipeline runs to the bound that
its stages, each measured alone, set on this machine.

    python benchmarks/methods.py                          # full LFW (7,701 images), every method
    python benchmarks/methods.py --pairs-per-fold 60      # a quick subset
    python benchmarks/methods.py --methods yunet,mtcnn    # some methods
    python benchmarks/methods.py -- hardware.num_threads=2  # Hydra overrides for every run

Per method (the detectors ``make sweep`` runs: available here, default backend), in one
process: the fast pipeline end to end without a cache (what a sweep job computes), then each
stage alone on a sample of the same images (decode, the detector at its batch and threads,
alignment, the model at its best batch). The bound is what the cores could do if the stages
overlapped perfectly; the fraction of it that the pipeline reaches is the figure to compare
across machines, with the sweep time as a multiple of one YuNet job, both measured in this run.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from perf import accounting, bound, config, floors, run

from bench.api import sweep_methods
from bench.cpu import cpu_info
from bench.metrics import keys
from bench.paths import project_root
from bench.pipeline import BenchmarkRunner

#: The method every sweep's time is expressed in.
REFERENCE_METHOD = "yunet"


def measure(method: str, common: list[str]) -> dict[str, Any]:
    overrides = [*common, f"detector={method}", "cache=off"]
    started = time.perf_counter()
    result = run(method, overrides)
    job_s = time.perf_counter() - started
    with BenchmarkRunner(config(overrides)) as runner:
        floor = floors(runner)
    cores = cpu_info().cores
    limit, shared = bound(floor, cores), bound(floor, cores, shared=True)
    return {**result, "job_s": job_s, "floors": floor, "bound": limit, "bound_shared": shared}


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| method | images/s | bound | of bound | shared bound | of it | decode | detect | align | embed "
        "| CPU used | job s | accuracy |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for row in rows:
        floor, rate = row["floors"], row[keys.IMAGES_PER_S]
        lines.append(
            f"| {row['name']} | {rate:.1f} | {row['bound']:.1f} | {100 * rate / row['bound']:.0f} % | "
            f"{row['bound_shared']:.1f} | {100 * rate / row['bound_shared']:.0f} % | "
            f"{floor['decode_ms']:.2f} | {floor['detect_ms']:.2f} | {floor['align_ms']:.2f} | "
            f"{floor['embed_ms']:.2f} | {100 * row[keys.CPU_UTILISATION]:.0f} % | {row['job_s']:.0f} | "
            f"{100 * row[keys.ACCURACY]:.2f} % |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pairs-per-fold", type=int, default=None, help="a subset: pairs per fold")
    parser.add_argument("--methods", default=None, help="comma-separated detectors (default: the sweep's)")
    parser.add_argument("--out", type=Path, default=project_root() / "outputs" / "perf_methods.json")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for every run")
    args = parser.parse_args()
    common = [
        *([f"dataset.pairs_per_fold={args.pairs_per_fold}"] if args.pairs_per_fold else []),
        *args.overrides,
    ]
    methods = args.methods.split(",") if args.methods else sweep_methods()
    print(f"CPU: {cpu_info()}", flush=True)

    rows = [measure(method, common) for method in methods]

    lines = [
        f"CPU: {cpu_info()}",
        "Floors in ms per image, each stage alone (decode on a thread, detect on its threads, embed",
        "at its best batch); bound = images/s if the stages overlapped perfectly; shared bound: the",
        "same with each floor measured beside copies of itself on every core; CPU used: the CPU",
        "time the run took over the cores' time while it processed images.",
        "",
        table(rows),
        "",
    ]
    sweep_s = sum(row["job_s"] for row in rows)
    for reference in (row for row in rows if row["name"] == REFERENCE_METHOD):
        lines.append(
            f"all {len(rows)} methods, one after another: {sweep_s:.0f} s = "
            f"{sweep_s / reference['job_s']:.1f} x one {REFERENCE_METHOD} job ({reference['job_s']:.0f} s)"
        )
    lowest = min(rows, key=lambda row: row[keys.IMAGES_PER_S] / row["bound"])
    lines.append(
        f"lowest fraction of its bound: {lowest['name']} at "
        f"{100 * lowest[keys.IMAGES_PER_S] / lowest['bound']:.0f} %"
    )
    for row in rows:
        lines += ["", f"{row['name']}, per thread group ({row['counts']}):", accounting(row, row["floors"])]
    report = "\n".join(lines)
    print("\n" + report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"cpu": str(cpu_info()), "methods": rows, "report": report}, indent=2))
    print(f"\n(written to {args.out})")


if __name__ == "__main__":
    main()
