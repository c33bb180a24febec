"""One detector per detection worker, lent out a batch at a time.

Not every library's detector may be called from two threads at once (OpenCV's ``FaceDetectorYN``
keeps its input size, MediaPipe's tasks their graph), so parallel detection workers each take an
instance of their own from the pool for the batch they detect, and give it back.
"""

from __future__ import annotations

import queue
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from bench.detectors import Detector


class DetectorPool:
    """``size`` detectors made by ``make`` (each made and warmed up as it is made)."""

    def __init__(self, make: Callable[[], Detector], size: int) -> None:
        self.detectors = [make() for _ in range(size)]
        self._idle: queue.SimpleQueue[Detector] = queue.SimpleQueue()
        for detector in self.detectors:
            self._idle.put(detector)

    @contextmanager
    def lease(self) -> Iterator[Detector]:
        """An idle detector for the block (waiting for one if all are busy)."""
        detector = self._idle.get()
        try:
            yield detector
        finally:
            self._idle.put(detector)

    def close(self) -> None:
        for detector in self.detectors:
            detector.close()
