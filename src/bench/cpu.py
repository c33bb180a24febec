"""The CPU a figure was measured on: its model and the instruction sets that decide which kernels
pay (the same pipeline ran 1.6x faster on a CPU with AVX-512 VNNI than on one with AVX2 only),
as far as the process may use them (``bench.isa``'s caps)."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from bench.isa import UNCAPPED, active_cap

#: The instruction sets that matter to inference kernels: Linux ``/proc/cpuinfo`` flag -> name.
KERNEL_FLAGS = {
    "avx2": "AVX2",
    "fma": "FMA",
    "avx512f": "AVX-512",
    "avx512_vnni": "AVX-512 VNNI",
    "avx_vnni": "AVX-VNNI",
    "avx512_bf16": "AVX-512 BF16",
    "avx512_fp16": "AVX-512 FP16",
    "amx_tile": "AMX",
    "amx_bf16": "AMX BF16",
    "amx_int8": "AMX INT8",
}


@dataclass(frozen=True)
class CpuInfo:
    """The model name, the logical cores this process may use, and the kernel-relevant flags it
    may use: under a cap (``bench isa --cap``), only those the cap keeps."""

    name: str
    cores: int
    flags: frozenset[str]
    #: The cap the process started under (``avx2``); empty when it runs on what the CPU has.
    cap: str = ""

    def has(self, flag: str) -> bool:
        """Whether the CPU reports ``flag`` (a ``/proc/cpuinfo`` name, e.g. ``avx512_vnni``)."""
        return flag in self.flags

    @property
    def instruction_sets(self) -> str:
        """The kernel-relevant instruction sets, e.g. ``AVX2 FMA AVX-512 AVX-512 VNNI``."""
        return " ".join(name for flag, name in KERNEL_FLAGS.items() if flag in self.flags) or "none known"

    def __str__(self) -> str:
        capped = f"; capped at {self.cap}, except {', '.join(UNCAPPED)}" if self.cap else ""
        return f"{self.name} ({self.cores} cores; {self.instruction_sets}{capped})"


def usable_cores() -> int:
    """The cores this process may use: those it is pinned to (a cgroup cpuset or Slurm's task
    affinity), and no more than a Slurm job step was given (``SLURM_CPUS_PER_TASK``), which a
    cluster without task affinity does not enforce; ``os.cpu_count()`` would count the whole node."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    allotted = os.environ.get("SLURM_CPUS_PER_TASK", "")
    return min(cores, int(allotted)) if allotted.isdigit() and int(allotted) > 0 else cores


@lru_cache(maxsize=1)
def cpu_info() -> CpuInfo:
    """This machine's CPU, read once (``/proc/cpuinfo`` on Linux; elsewhere the name only)."""
    cores = usable_cores()
    fields: dict[str, str] = {}
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())  # the first core's
    name = fields.get("model name") or platform.processor() or platform.machine()
    flags = frozenset(fields.get("flags", "").split())
    cap = active_cap()
    if cap is None:
        return CpuInfo(name, cores, flags)
    return CpuInfo(
        name, cores, frozenset(f for f in flags if f not in KERNEL_FLAGS or f in cap.keeps), cap.name
    )
