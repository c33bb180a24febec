"""The pipeline's worker and thread counts measured best on this CPU, kept per CPU and method.

``bench tune`` measures a few candidate counts on this machine and stores the fastest under the
CPU's model, cores and instruction-set cap and the method (detector and model: a detector that
costs 16 ms an image wants other counts than one that costs 1.5), in ``$BENCH_TUNING_DIR``, else
``~/.cache/bench/tuning``. Every later run of that method on such a CPU takes them for the counts
its config leaves null (``Runtime.from_config``), and records where they came from. The counts decide only
how fast a run goes, never what it computes: each image's result depends on that image alone
(tested), and the cache's keys leave them out.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from bench.atomic_write import write_atomically
from bench.cpu import CpuInfo, cpu_info

log = logging.getLogger(__name__)

TUNING_DIR_ENV = "BENCH_TUNING_DIR"


@dataclass(frozen=True)
class PipelineCounts:
    """Workers per stage, threads per detection and recognition worker, and faces per
    recognition forward pass."""

    decode_workers: int
    detect_workers: int
    embed_workers: int
    detect_threads: int
    embed_threads: int
    embed_batch: int

    def runnable_threads(self) -> int:
        """The threads that compute at once when every stage is busy."""
        return (
            self.decode_workers
            + self.detect_workers * self.detect_threads
            + self.embed_workers * self.embed_threads
        )

    def overrides(self) -> list[str]:
        """The same counts as the Hydra overrides a run takes."""
        return [
            f"hardware.num_workers={self.decode_workers}",
            f"pipeline.detect_workers={self.detect_workers}",
            f"pipeline.embed_workers={self.embed_workers}",
            f"hardware.detect_threads={self.detect_threads}",
            f"hardware.embed_threads={self.embed_threads}",
            f"hardware.embed_batch_size={self.embed_batch}",
        ]


@dataclass(frozen=True)
class Tuning:
    """A calibration: the counts, what they ran at, and how they were measured."""

    counts: PipelineCounts
    images_per_s: float
    #: The same method with the counts a run takes without a calibration.
    default_images_per_s: float
    #: ``method_key``'s: which runs take it.
    method: str
    images: int
    measured_on: str

    def describe(self) -> str:
        counts = self.counts
        return (
            f"bench tune, {self.measured_on}: {counts.decode_workers} decode, {counts.detect_workers} x "
            f"{counts.detect_threads} detect, {counts.embed_workers} x {counts.embed_threads} embed at "
            f"batch {counts.embed_batch} ({self.images_per_s:.0f} images/s against "
            f"{self.default_images_per_s:.0f} with the built-in ones; {self.images} images)"
        )


def tuning_dir() -> Path:
    if env := os.environ.get(TUNING_DIR_ENV):
        return Path(env)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "bench" / "tuning"


def cpu_key(cpu: CpuInfo) -> str:
    """The file name a CPU's calibration is kept under: its model, cores and cap."""
    name = re.sub(r"[^a-z0-9]+", "-", cpu.name.lower()).strip("-") or "cpu"
    return f"{name}-{cpu.cores}c" + (f"-{cpu.cap}" if cpu.cap else "")


def method_key(detector: str, model: str) -> str:
    """The method a calibration belongs to: ``yunet+edgeface_xs_gamma_06``."""
    return f"{detector}+{model}"


def tuning_path(method: str, cpu: CpuInfo | None = None) -> Path:
    return tuning_dir() / cpu_key(cpu or cpu_info()) / f"{method}.json"


def save_tuning(tuning: Tuning, cpu: CpuInfo | None = None) -> Path:
    path = tuning_path(tuning.method, cpu)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(dataclasses.asdict(tuning), indent=2) + "\n"
    return write_atomically(path, lambda temporary: temporary.write_text(text))


def load_tuning(method: str, cpu: CpuInfo | None = None) -> Tuning | None:
    """This CPU's calibration of ``method``; ``None`` without one. A file that does not read as
    one is reported and ignored: the run goes on with the built-in counts."""
    path = tuning_path(method, cpu)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        tuning = Tuning(**{**data, "counts": PipelineCounts(**data["counts"])})
        counts = tuning.counts
        if counts.decode_workers < 0 or min(dataclasses.astuple(counts)[1:]) < 1:
            raise ValueError(f"counts out of range: {counts}")
    except (OSError, ValueError, TypeError, KeyError) as error:
        log.warning("ignoring the calibration %s (%s); run bench tune to measure it again", path, error)
        return None
    return tuning
