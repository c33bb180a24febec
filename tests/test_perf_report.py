"""``make perf``'s report on a few images: every method's bounds, alone and shared, and the run's
CPU per thread group against its floors."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from bench.paths import project_root

from .conftest import load_script

BENCHMARKS = project_root() / "benchmarks"


@pytest.fixture(scope="module")
def perf() -> Iterator[ModuleType]:
    sys.path.insert(0, str(BENCHMARKS))  # methods.py imports perf by name, as `python` runs it
    try:
        yield load_script(BENCHMARKS / "perf.py")
    finally:
        sys.path.remove(str(BENCHMARKS))


def test_the_bound_is_set_by_the_cores_or_by_the_slowest_stage(perf: ModuleType) -> None:
    floor = {
        "decode_ms": 1.0,
        "decode_shared_ms": 2.0,
        "decode_workers": 2,
        "detect_ms": 2.0,
        "detect_shared_ms": 3.0,
        "detect_threads": 1,
        "detect_workers": 1,
        "align_ms": 0.5,
        "embed_ms": 4.0,
        "embed_shared_ms": 5.0,
        "embed_threads": 1,
        "embed_workers": 2,
    }
    # 7.5 ms of CPU an image on 2 cores; the slowest stage (detect + align, 2.5 ms) is faster.
    assert perf.bound(floor, cores=2) == pytest.approx(2000 / 7.5)
    assert perf.bound(floor, cores=2, shared=True) == pytest.approx(2000 / 10.5)
    # On 8 cores the one detection worker is the limit: 2.5 ms an image.
    assert perf.bound(floor, cores=8) == pytest.approx(1000 / 2.5)


def test_make_perf_reports_each_method_against_its_floors(tmp_path: Path) -> None:
    out = tmp_path / "methods.json"
    completed = subprocess.run(
        [
            sys.executable,
            str(BENCHMARKS / "methods.py"),
            "--methods",
            "yunet",
            "--out",
            str(out),
            "--",
            "dataset.folds=[0]",
            "dataset.pairs_per_fold=10",
        ],
        capture_output=True,
        text=True,
        cwd=project_root(),
        timeout=600,
    )
    assert completed.returncode == 0, completed.stderr
    report = json.loads(out.read_text())
    (row,) = report["methods"]
    assert row["bound_shared"] > 0 and row["bound"] > 0
    for stage in ("decode", "detect", "embed"):
        assert row["floors"][f"{stage}_shared_ms"] > 0
    text = report["report"]
    assert "| yunet |" in text and "shared bound" in text
    assert "yunet, per thread group (decode 2, detect 2 x " in text  # the built-in counts: no calibration
    assert "| embed |" in text and "preemptions" in text
