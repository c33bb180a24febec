"""CPU time, context switches and threads per stage, from the kernel's own per-thread accounting.

A stage's busy time (``StageTimer``) is wall time: when stages overlap on fewer cores than they
have threads, it grows with every wait for a core, and it leaves out the threads a library
starts for a stage (ONNX Runtime's intra-op pool, OpenMP's team). So each thread a stage runs
on is named after the stage (``bench-detect``) in the kernel, and a thread inherits the name of
the thread that starts it: a pool made while a stage's model loads, or from a stage's worker, is
the stage's. ``/proc/self/task`` then gives, per stage, the CPU seconds, the voluntary switches
(waits: for a queue, a lock, the next image) and the involuntary ones (the scheduler taking the
core away: more runnable threads than cores). A thread a stage named reports its own last
counters as it ends, so a pool that lives shorter than a sampling interval is counted whole.
Linux only; elsewhere nothing is measured.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import math
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from bench.metrics import keys

_PREFIX = "bench-"
_TASKS = Path("/proc/self/task")
_PR_SET_NAME = 15
_PR_GET_NAME = 16
#: Kernel thread names hold 15 bytes and a terminating zero.
_NAME_BYTES = 16
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass
class ThreadCounters:
    """One thread's, or a group's, totals since it started."""

    cpu_s: float = 0.0
    voluntary: int = 0
    involuntary: int = 0

    def __sub__(self, other: ThreadCounters) -> ThreadCounters:
        return ThreadCounters(
            self.cpu_s - other.cpu_s, self.voluntary - other.voluntary, self.involuntary - other.involuntary
        )

    def __add__(self, other: ThreadCounters) -> ThreadCounters:
        return ThreadCounters(
            self.cpu_s + other.cpu_s, self.voluntary + other.voluntary, self.involuntary + other.involuntary
        )


def _libc() -> ctypes.CDLL | None:
    path = ctypes.util.find_library("c")
    return ctypes.CDLL(path, use_errno=True) if path and _TASKS.is_dir() else None


_LIBC = _libc()


def _native_name() -> bytes:
    buffer = ctypes.create_string_buffer(_NAME_BYTES)
    if _LIBC is not None:
        _LIBC.prctl(_PR_GET_NAME, buffer, 0, 0, 0)
    return buffer.value


def _set_native_name(name: bytes) -> None:
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_NAME, ctypes.c_char_p(name[: _NAME_BYTES - 1]), 0, 0, 0)


#: Threads that ended while an accounting was open: their id, name and last counters, in the
#: order they ended; emptied when the last accounting closes.
_ended: list[tuple[int, str, ThreadCounters]] = []
_ended_lock = threading.Lock()
_open_accountings = 0
_local = threading.local()


class _ReportOnExit:
    """Kept in a thread's local storage, which the ending thread releases itself while its
    ``/proc`` entry still exists: the one moment its final counters can be read."""

    def __del__(self) -> None:
        read = _read_thread(Path("/proc/thread-self"))
        with _ended_lock:
            if read is not None and _open_accountings:
                _ended.append((threading.get_native_id(), *read))


def name_thread(stage: str) -> None:
    """Name the calling thread (and what it starts from now on) after ``stage`` in the kernel;
    it reports its counters when it ends."""
    _set_native_name(f"{_PREFIX}{stage}".encode())
    if _LIBC is not None and not hasattr(_local, "report"):
        _local.report = _ReportOnExit()


@contextlib.contextmanager
def stage_thread(stage: str) -> Iterator[None]:
    """The calling thread counts as ``stage``'s inside the block (its name restored after)."""
    previous = _native_name()
    name_thread(stage)
    try:
        yield
    finally:
        _set_native_name(previous)


def _read_thread(task: Path) -> tuple[str, ThreadCounters] | None:
    """A thread's name and counters; ``None`` if it ended while being read. Its CPU time comes
    from ``schedstat`` (nanoseconds) where the kernel keeps it, else from ``stat`` (ticks of
    10 ms, too coarse for a thread that decodes a few images)."""
    try:
        name = (task / "comm").read_text().rstrip("\n")
        status = (task / "status").read_text()
        try:
            cpu_s = int((task / "schedstat").read_text().split()[0]) / 1e9
        except (OSError, ValueError, IndexError):
            fields = (task / "stat").read_text().rpartition(")")[2].split()
            cpu_s = (int(fields[11]) + int(fields[12])) / _TICKS  # utime and stime
    except OSError:
        return None
    switches = dict(line.split(":", 1) for line in status.splitlines() if "ctxt_switches" in line)
    return name, ThreadCounters(
        cpu_s,
        int(switches.get("voluntary_ctxt_switches", "0")),
        int(switches.get("nonvoluntary_ctxt_switches", "0")),
    )


def _process_cpu_s() -> float:
    """The process's CPU seconds, threads that already ended included."""
    return time.process_time()


@dataclass
class _Seen:
    group: str
    first: ThreadCounters
    last: ThreadCounters


class ThreadAccounting:
    """Per-stage CPU seconds, switches and threads over the ``with`` block, sampled every
    ``interval_s`` (for the peak thread count, and for threads no stage named: once one ends,
    its last sample stands for it, and what it did after that counts under ``other``)."""

    def __init__(self, cores: int, interval_s: float = 0.25) -> None:
        self.cores = cores
        self.interval_s = interval_s
        self._seen: dict[int, _Seen] = {}
        #: Threads that ended inside the block, with their last counters.
        self._finished: list[_Seen] = []
        self._ended_from = 0
        self._peak_threads = 0
        self._cpu_s = 0.0
        self._wall_s = 0.0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> ThreadAccounting:
        if _LIBC is None:
            return self
        global _open_accountings
        self._cpu_s, self._wall_s = -_process_cpu_s(), -time.perf_counter()
        with _ended_lock:
            _open_accountings += 1
            self._ended_from = len(_ended)
        self._sample(baseline=True)
        self._thread = threading.Thread(target=self._run, name="thread-accounting", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._thread is None:
            return
        global _open_accountings
        self._stop.set()
        self._thread.join()
        self._sample()
        self._cpu_s += _process_cpu_s()
        self._wall_s += time.perf_counter()
        with _ended_lock:
            _open_accountings -= 1
            if not _open_accountings:
                _ended.clear()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def _sample(self, baseline: bool = False) -> None:
        """Read every live thread, and take the last counters of those that ended. One first
        seen after the baseline started inside the block and counts from zero; the baseline's
        count from where they were."""
        threads = [(int(task.name), _read_thread(task)) for task in _TASKS.iterdir()]
        with _ended_lock:
            ended, self._ended_from = _ended[self._ended_from :], len(_ended)
        with self._lock:
            self._peak_threads = max(self._peak_threads, len(threads))
            for tid, read in threads:
                if read is not None:
                    self._update(tid, *read, baseline)
            for tid, name, counters in ended:
                self._update(tid, name, counters, baseline=False)
                self._finished.append(self._seen.pop(tid))

    def _update(self, tid: int, name: str, counters: ThreadCounters, baseline: bool) -> None:
        group = name.removeprefix(_PREFIX)
        group = group if group in keys.THREAD_GROUPS else keys.OTHER_THREADS
        seen = self._seen.get(tid)
        if seen is not None and counters.cpu_s < seen.last.cpu_s:  # the id was reused
            self._finished.append(self._seen.pop(tid))
            seen = None
        if seen is None:
            self._seen[tid] = _Seen(group, counters if baseline else ThreadCounters(), counters)
        else:
            seen.group, seen.last = group, counters

    def totals(self) -> dict[str, tuple[ThreadCounters, int]]:
        """Per group: its counters over the block and how many threads did anything in it."""
        groups: dict[str, tuple[ThreadCounters, int]] = {}
        with self._lock:
            for seen in [*self._seen.values(), *self._finished]:
                used = seen.last - seen.first
                if used.cpu_s <= 0 and not used.voluntary and not used.involuntary:
                    continue
                counters, count = groups.get(seen.group, (ThreadCounters(), 0))
                groups[seen.group] = (counters + used, count + 1)
        return groups

    def metrics(self) -> dict[str, float]:
        """The block's figures under ``bench.metrics.keys``; none where nothing was measured."""
        if self._thread is None:
            return {}
        totals = self.totals()
        unattributed = self._cpu_s - sum(counters.cpu_s for counters, _ in totals.values())
        other, other_threads = totals.get(keys.OTHER_THREADS, (ThreadCounters(), 0))
        totals[keys.OTHER_THREADS] = (other + ThreadCounters(max(0.0, unattributed)), other_threads)
        metrics = {
            keys.CPU_TOTAL_S: self._cpu_s,
            keys.CPU_UTILISATION: self._cpu_s / (self._wall_s * self.cores) if self._wall_s > 0 else math.nan,
            keys.THREADS_PEAK: float(self._peak_threads),
        }
        for group in keys.THREAD_GROUPS:
            counters, count = totals.get(group, (ThreadCounters(), 0))
            metrics[keys.cpu_s(group)] = counters.cpu_s
            metrics[keys.threads(group)] = float(count)
            metrics[keys.switches(group, voluntary=True)] = float(counters.voluntary)
            metrics[keys.switches(group, voluntary=False)] = float(counters.involuntary)
        return metrics
