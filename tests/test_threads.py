"""Thread budgets: overlapping stages share the cores, sequential stages each get them all."""

from __future__ import annotations

import pytest

from bench.pipeline.threads import ThreadBudget, thread_budget

NULL = {"detect_threads": None, "embed_threads": None}


@pytest.fixture
def eight_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bench.pipeline.threads.os.cpu_count", lambda: 8)


@pytest.mark.usefixtures("eight_cores")
def test_overlapping_stages_split_the_cores() -> None:
    assert thread_budget(NULL, embed_workers=2) == ThreadBudget(detect=4, embed=2)


@pytest.mark.usefixtures("eight_cores")
def test_sequential_stages_each_get_every_core() -> None:
    # Without overlap the runner starts no recognition workers, whatever embed_workers says.
    assert thread_budget(NULL, embed_workers=2, overlap=False) == ThreadBudget(detect=8, embed=8)
    assert thread_budget(NULL, embed_workers=1, overlap=False) == ThreadBudget(detect=8, embed=8)


@pytest.mark.usefixtures("eight_cores")
def test_configured_threads_win() -> None:
    budget = thread_budget({"detect_threads": 3, "embed_threads": 1}, embed_workers=2, overlap=False)
    assert budget == ThreadBudget(detect=3, embed=1)


def test_a_zero_budget_is_refused() -> None:
    with pytest.raises(ValueError, match=r"hardware\.embed_threads must be a positive integer"):
        thread_budget({"detect_threads": None, "embed_threads": 0})
