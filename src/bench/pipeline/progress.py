"""A progress bar per pipeline stage, on the console."""

from __future__ import annotations

from collections.abc import Sequence

from rich.progress import BarColumn, MofNCompleteColumn, TaskID, TextColumn, TimeRemainingColumn
from rich.progress import Progress as RichProgress


class Progress:
    """One bar per stage; ``Progress.disabled()`` draws nothing (tests, library use)."""

    def __init__(self, enabled: bool = True) -> None:
        self._bars: RichProgress | None = None
        self._tasks: dict[str, TaskID] = {}
        self._enabled = enabled

    @classmethod
    def disabled(cls) -> Progress:
        return cls(enabled=False)

    def start(self, stages: Sequence[str], total: int) -> None:
        if not self._enabled:
            return
        self._bars = RichProgress(
            TextColumn("{task.description:>8}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            transient=False,
        )
        self._tasks = {stage: self._bars.add_task(stage, total=total) for stage in stages}
        self._bars.start()

    def advance(self, stage: str, count: int) -> None:
        if self._bars is not None:
            self._bars.advance(self._tasks[stage], count)

    def stop(self) -> None:
        if self._bars is not None:
            self._bars.stop()
            self._bars = None
