"""Instruction-set caps: a command started under ``bench isa --cap avx2`` runs every library that
reads a variable on its AVX2 kernels, and every figure it prints says so."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bench import cpu
from bench.isa import CAPS, UNCAPPED, active_cap
from bench.paths import project_root

AVX2 = CAPS["avx2"]


def bench_isa(*arguments: str, env: dict[str, str] | None = None) -> str:
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "isa", *arguments],
        capture_output=True,
        text=True,
        cwd=project_root(),
        env=env,
        timeout=120,
        check=True,
    )
    return completed.stdout


def test_a_cap_is_active_only_when_all_its_variables_are_set() -> None:
    assert active_cap(dict(AVX2.environment)) is AVX2
    partial = {key: value for key, value in AVX2.environment.items() if key != "OPENCV_CPU_DISABLE"}
    assert active_cap(partial) is None
    assert active_cap({**AVX2.environment, "ATEN_CPU_CAPABILITY": "avx512"}) is None


def test_the_cpu_under_a_cap_keeps_only_what_the_cap_keeps(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in AVX2.environment.items():
        monkeypatch.setenv(key, value)
    cpu.cpu_info.cache_clear()
    try:
        capped = cpu.cpu_info()
    finally:
        cpu.cpu_info.cache_clear()
    assert capped.cap == "avx2"
    assert not capped.has("avx512f") and not capped.has("avx512_bf16") and not capped.has("amx_tile")
    assert capped.has("avx2") == cpu.cpu_info().has("avx2")
    # Every figure heads with the CPU: it names the cap and what the cap cannot hold.
    assert "capped at avx2" in str(capped) and all(library in str(capped) for library in UNCAPPED)


def test_the_libraries_dispatch_to_avx2_under_the_cap() -> None:
    report = bench_isa("--cap", "avx2")
    assert "capped at avx2" in report
    assert "PyTorch: AVX2" in report and "OpenCV: AVX2 or lower" in report and "oneDNN: AVX2" in report
    assert "AVX512" not in report.split("NumPy:")[1].splitlines()[0]


def test_a_command_runs_in_the_capped_environment() -> None:
    shown = bench_isa(
        "--cap", "avx2", "--", sys.executable, "-c", "import os; print(os.environ['DNNL_MAX_CPU_ISA'])"
    )
    assert shown.strip() == "AVX2"


def test_a_command_without_a_cap_is_refused() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "isa", "--", "true"],
        capture_output=True,
        text=True,
        cwd=project_root(),
        env=os.environ,
        timeout=120,
    )
    assert completed.returncode == 2 and "a command needs --cap" in completed.stderr
