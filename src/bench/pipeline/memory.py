"""Peak memory of one run: process RSS sampled over time, and CUDA allocations."""

from __future__ import annotations

import threading
import time
from types import TracebackType

import psutil
import torch


class MemorySampler:
    """Samples this process's RSS on a background thread while the run is in the ``with``.

    ``ru_maxrss`` would give the process's lifetime peak, which a second job of a multirun
    inherits from the first; sampling gives each run its own peak and a trace over time.
    """

    def __init__(self, interval_s: float = 0.25, cuda: bool = False) -> None:
        self.interval_s = interval_s
        self.cuda = cuda and torch.cuda.is_available()
        self.trace: list[tuple[float, float]] = []  # (seconds since start, RSS MiB)
        self._process = psutil.Process()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memory-sampler", daemon=True)
        self._start = 0.0

    def __enter__(self) -> MemorySampler:
        self._start = time.perf_counter()
        if self.cuda:
            torch.cuda.reset_peak_memory_stats()
        self._sample()
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def _sample(self) -> None:
        rss_mib = self._process.memory_info().rss / 2**20
        self.trace.append((time.perf_counter() - self._start, rss_mib))

    @property
    def peak_rss_mb(self) -> float:
        return max(rss for _, rss in self.trace)

    @property
    def peak_gpu_mb(self) -> float:
        """Peak memory allocated by torch on the GPU; 0 on the CPU."""
        return torch.cuda.max_memory_allocated() / 2**20 if self.cuda else 0.0
