"""A pipeline stage on worker threads, fed through a bounded queue."""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Generic, TypeVar

from bench.pipeline.threads import name_thread

Item = TypeVar("Item")
Result = TypeVar("Result")

_END = object()


class BackgroundStage(Generic[Item]):
    """Runs ``handle(item)`` for each ``put`` item on ``workers`` threads.

    Several single-threaded workers keep the cores busier than one worker with a multi-threaded
    kernel: no worker waits at a barrier for a straggler the OS descheduled in favour of an
    overlapping stage. The queue is bounded so a fast producer cannot pile up images in memory.
    An exception in a worker resurfaces in the producer at its next ``put`` or at ``close``, so a
    failing stage stops the run instead of hanging it.
    """

    def __init__(self, name: str, handle: Callable[[Item], None], depth: int, workers: int = 1) -> None:
        if workers < 1:
            raise ValueError(f"a stage needs at least one worker, got {workers}")
        self._handle = handle
        self._name = name
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max(1, depth))
        self._error: BaseException | None = None
        self._stopping = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, name=f"{name}-{number}", daemon=True)
            for number in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    def put(self, item: Item) -> None:
        self._offer(item)

    def close(self) -> None:
        """Wait until every item is handled; re-raise a worker's error."""
        self._offer(_END)
        for thread in self._threads:
            thread.join()
        self._raise_if_failed()

    def abort(self) -> None:
        """Stop without handling what is still queued (the producer failed)."""
        self._stopping.set()
        for thread in self._threads:
            thread.join()

    def _offer(self, item: object) -> None:
        while True:
            self._raise_if_failed()
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        name_thread(self._name)
        try:
            while not self._stopping.is_set():
                try:
                    item = self._queue.get(timeout=0.1)
                except queue.Empty:
                    continue
                if item is _END:
                    self._queue.put(_END)  # for the next worker
                    return
                self._handle(item)  # type: ignore[arg-type]
        except BaseException as error:  # handed to the producer thread
            self._error = error
            self._stopping.set()

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

    def __init__(self, handle: Callable[[Item], None]) -> None:
        self._handle = handle

    def put(self, item: Item) -> None:
        self._handle(item)

    def close(self) -> None:
        """Every item was handled in ``put``."""

    def __enter__(self) -> InlineStage[Item]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None


def ordered_map(
    handle: Callable[[Item], Result], items: Iterable[Item], workers: int, thread_name: str, ahead: int = 0
) -> Iterator[Result]:
    """``map(handle, items)`` in order, with up to ``workers + ahead`` items submitted to
    ``workers`` threads at a time (``workers=0``: inline). A failed or stopped consumer leaves
    nothing queued behind it."""
    if workers == 0:
        yield from map(handle, items)
        return
    pool = ThreadPoolExecutor(
        workers, thread_name_prefix=thread_name, initializer=name_thread, initargs=(thread_name,)
    )
    try:
        pending: deque[Future[Result]] = deque()
        for item in items:
            pending.append(pool.submit(handle, item))
            if len(pending) > workers - 1 + ahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
