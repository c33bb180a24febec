"""SIGTERM as an exception, so that what a stopped process had open ends cleanly.

Kept free of heavy imports: the command-line entry point catches :class:`Terminated`.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

#: What ``signal.signal`` returns: a function, ``SIG_DFL``/``SIG_IGN`` (ints), or ``None`` for a
#: handler not installed from Python, which cannot be put back.
Handler = Callable[[int, FrameType | None], Any] | int | None


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so that a run ends KILLED, like Ctrl-C, and the
    ``with`` blocks above it (the feature cache, the worker threads, joblib's workers) unwind."""


def _terminate(signum: int, _frame: FrameType | None) -> None:
    raise Terminated(f"stopped by signal {signal.Signals(signum).name}")


def raise_on_sigterm() -> Handler:
    """Make SIGTERM raise :class:`Terminated` in the main thread; returns the handler it replaced,
    or ``None`` off the main thread, where handlers cannot be installed."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _terminate)


def restore_sigterm(previous: Handler) -> None:
    """Put back what :func:`raise_on_sigterm` replaced (nothing if it installed nothing)."""
    if previous is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` (main thread only)."""
    previous = raise_on_sigterm()
    try:
        yield
    finally:
        restore_sigterm(previous)
