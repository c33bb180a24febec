"""A pipeline stage on its own thread, fed through a bounded queue."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Generic, TypeVar

Item = TypeVar("Item")

_END = object()


class BackgroundStage(Generic[Item]):
    """Runs ``handle(item)`` for each ``put`` item on a worker thread, then ``finish()``.

    The queue is bounded so a fast producer cannot pile up decoded images in memory. An
    exception in the worker resurfaces in the producer at its next ``put`` or at ``close``,
    so a failing stage stops the run instead of hanging it.
    """

    def __init__(
        self, name: str, handle: Callable[[Item], None], finish: Callable[[], None], depth: int
    ) -> None:
        self._handle = handle
        self._finish = finish
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max(1, depth))
        self._error: BaseException | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def put(self, item: Item) -> None:
        while True:
            self._raise_if_failed()
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def close(self) -> None:
        """Wait until every item is handled and ``finish`` has run; re-raise a worker error."""
        self.put(_END)  # type: ignore[arg-type]
        self._thread.join()
        self._raise_if_failed()

    def abort(self) -> None:
        """Stop without handling what is still queued (the producer failed)."""
        self._stopping.set()
        self._thread.join()

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        try:
            while not self._stopping.is_set():
                try:
                    item = self._queue.get(timeout=0.1)
                except queue.Empty:
                    continue
                if item is _END:
                    self._finish()
                    return
                self._handle(item)  # type: ignore[arg-type]
        except BaseException as error:  # handed to the producer thread
            self._error = error

    def __enter__(self) -> BackgroundStage[Item]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc is not None:
            self.abort()


class InlineStage(Generic[Item]):
    """The same interface, run on the caller's thread: the sequential (naive) pipeline."""

    def __init__(self, handle: Callable[[Item], None], finish: Callable[[], None]) -> None:
        self._handle = handle
        self._finish = finish

    def put(self, item: Item) -> None:
        self._handle(item)

    def close(self) -> None:
        self._finish()

    def abort(self) -> None:
        """Nothing runs in the background."""

    def __enter__(self) -> InlineStage[Item]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None
