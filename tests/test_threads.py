"""Thread budgets: overlapping stages share the cores, sequential stages each get them all."""

from __future__ import annotations

import pytest

from bench.config import HardwareConfig, PipelineConfig
from bench.runtime import Runtime

OVERLAP = PipelineConfig(overlap=True, detect_workers=1, embed_workers=2)
SEQUENTIAL = PipelineConfig(overlap=False, embed_workers=2)


def budget(hardware: HardwareConfig, pipeline: PipelineConfig) -> tuple[int, int]:
    runtime = Runtime.from_config(hardware, pipeline)
    return runtime.detect_threads, runtime.embed_threads


@pytest.fixture(autouse=True)
def eight_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bench.runtime.usable_cores", lambda: 8)


def test_overlapping_stages_split_the_cores() -> None:
    assert budget(HardwareConfig(), OVERLAP) == (4, 2)


def test_sequential_stages_each_get_every_core() -> None:
    # Without overlap the runner starts no recognition workers, whatever embed_workers says.
    assert budget(HardwareConfig(), SEQUENTIAL) == (8, 8)
    assert budget(HardwareConfig(), PipelineConfig(overlap=False, embed_workers=1)) == (8, 8)


def test_configured_threads_win() -> None:
    assert budget(HardwareConfig(detect_threads=3, embed_threads=1), SEQUENTIAL) == (3, 1)


def test_a_zero_budget_is_refused() -> None:
    with pytest.raises(ValueError, match=r"hardware\.embed_threads must be an integer >= 1 or null"):
        HardwareConfig(embed_threads=0)
