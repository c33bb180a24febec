"""CPU time, switches and threads per stage, from the kernel's per-thread accounting: a thread
counts as the stage that named it, and so does every thread it starts."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from bench.metrics import keys
from bench.pipeline.threads import ThreadAccounting, name_thread, stage_thread

from .test_reliability import ONE_FOLD, run

pytestmark = pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="Linux's /proc only")


def kernel_name(thread_id: int | None = None) -> str:
    return Path(f"/proc/self/task/{thread_id or threading.get_native_id()}/comm").read_text().strip()


def work(rounds: int = 3_000_000) -> int:
    """A fixed amount of CPU, whatever else the machine runs."""
    return sum(range(rounds))


def test_a_stage_names_its_thread_and_what_that_thread_starts() -> None:
    before = kernel_name()
    started: list[str] = []
    with stage_thread("embed"):
        assert kernel_name() == "bench-embed"
        child = threading.Thread(target=lambda: started.append(kernel_name()))
        child.start()
        child.join()
    assert started == ["bench-embed"]
    assert kernel_name() == before


def test_each_group_gets_the_cpu_and_the_waits_of_its_threads() -> None:
    pause, finish = threading.Event(), threading.Event()
    done = [threading.Event(), threading.Event()]

    def decoder() -> None:
        name_thread("decode")
        work()
        done[0].set()
        finish.wait()

    def embedder() -> None:
        name_thread("embed")
        for _ in range(20):
            pause.wait(0.005)  # sleeps: a voluntary switch each
        done[1].set()
        finish.wait()

    # The threads outlive the block, as a run's pools do, so its last reading has their counts.
    threads = [threading.Thread(target=decoder), threading.Thread(target=embedder)]
    with ThreadAccounting(cores=2, interval_s=0.05) as accounting:
        for thread in threads:
            thread.start()
        for event in done:
            event.wait()
    finish.set()
    for thread in threads:
        thread.join()
    metrics = accounting.metrics()
    assert metrics[keys.threads("decode")] == 1 and metrics[keys.threads("embed")] == 1
    assert metrics[keys.cpu_s("decode")] > 0.02
    assert metrics[keys.cpu_s("decode")] > metrics[keys.cpu_s("embed")]
    assert metrics[keys.switches("embed", voluntary=True)] >= 20
    assert metrics[keys.threads("detect")] == 0 and metrics[keys.cpu_s("detect")] == 0
    # Every CPU second of the process lands in a group: what no stage named, or what a thread
    # did after its last sample, is ``other``'s.
    groups = sum(metrics[keys.cpu_s(group)] for group in keys.THREAD_GROUPS)
    assert groups == pytest.approx(metrics[keys.CPU_TOTAL_S], abs=0.02)
    assert 0 < metrics[keys.CPU_UTILISATION] <= 1.05
    assert metrics[keys.THREADS_PEAK] >= 3


def test_a_run_accounts_for_its_stages() -> None:
    metrics = run([*ONE_FOLD, "cache=off"]).metrics
    for group in ("decode", "detect", "embed"):
        assert metrics[keys.threads(group)] >= 1 and metrics[keys.cpu_s(group)] > 0, group
    assert metrics[keys.threads("embed")] >= 2  # pipeline.embed_workers, and their pools
    assert metrics[keys.CPU_TOTAL_S] >= sum(
        metrics[keys.cpu_s(group)] for group in ("decode", "detect", "embed")
    )
