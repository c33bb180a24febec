"""Busy time per pipeline stage."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from bench.metrics import keys


class StageTimer:
    """Accumulates seconds per named stage over many batches.

    Stages run on different threads when they overlap, so each one's figure is its own busy
    time, and the sum over stages can exceed the run's wall time. Only the names that
    ``bench.metrics.keys`` reports are accepted, so a misspelt stage fails at once instead of
    timing into a figure nobody reads.
    """

    NAMES = (*keys.STAGES, *keys.OVERHEADS)

    def __init__(self) -> None:
        self.seconds: dict[str, float] = dict.fromkeys(self.NAMES, 0.0)
        self._lock = threading.Lock()

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(stage, time.perf_counter() - start)

    def add(self, stage: str, seconds: float) -> None:
        if stage not in self.seconds:
            raise KeyError(f"unknown stage {stage!r}; timed stages are {self.NAMES}")
        with self._lock:
            self.seconds[stage] += seconds
