"""The runtime: the device is resolved once, here, and every component takes it as given.

Asking for CUDA on a machine without it fails here, once, instead of in each detector; an ONNX
Runtime session that would silently run on another provider than the runtime asks for fails
in ``OnnxSession``, which every ONNX detector (and the ONNX embedder) builds its model with.
The thread budgets are in ``test_threads.py``.
"""

from __future__ import annotations

import os

import pytest
import torch

from bench.assets import resolve
from bench.backends import OnnxSession, ProviderError
from bench.cpu import usable_cores
from bench.runtime import CPU_PROVIDER, CUDA_PROVIDER, Runtime


def test_local_cpu_runtime() -> None:
    runtime = Runtime.local("cpu", threads=1)
    assert runtime.device == torch.device("cpu") and runtime.device_name == "cpu" and not runtime.is_cuda
    assert runtime.onnx_providers == (CPU_PROVIDER,)
    assert (runtime.detect_threads, runtime.embed_threads) == (1, 1)


def test_an_unknown_device_name_is_refused() -> None:
    with pytest.raises(ValueError, match=r"unknown device 'gpu'; use 'cpu', 'cuda', 'cuda:N' or 'auto'"):
        Runtime.local("gpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
@pytest.mark.parametrize("device", ["cuda", "cuda:0"])
def test_cuda_without_cuda_is_refused(device: str) -> None:
    with pytest.raises(RuntimeError, match=r"hardware\.device=cuda, but CUDA is not available"):
        Runtime.local(device)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the fallback on a machine without CUDA")
def test_auto_without_cuda_falls_back_to_the_cpu() -> None:
    runtime = Runtime.local("auto")
    assert runtime.device == torch.device("cpu") and runtime.onnx_providers == (CPU_PROVIDER,)
    assert runtime.note == "auto: no CUDA device, fell back to the CPU"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_resolves_to_a_concrete_device() -> None:
    runtime = Runtime.local("cuda")
    assert runtime.is_cuda and runtime.device.index is not None
    assert runtime.device_name == f"cuda:{runtime.device.index}"
    assert runtime.onnx_providers == (CUDA_PROVIDER, CPU_PROVIDER)
    with pytest.raises(RuntimeError, match=r"hardware\.device_index=99"):
        Runtime.local("cuda:99")


def test_an_onnx_session_refuses_a_provider_onnxruntime_lacks() -> None:
    runtime = Runtime(torch.device("cpu"), ("NoSuchExecutionProvider",), detect_threads=1, embed_threads=1)
    with pytest.raises(ProviderError, match=r"has no \['NoSuchExecutionProvider'\]"):
        OnnxSession(resolve("retinaface"), runtime, 1)


@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU the CUDA provider does run")
def test_an_onnx_session_does_not_fall_back_to_the_cpu_silently() -> None:
    """CUDA asked for where it cannot run (no GPU, or onnxruntime without its CUDA provider):
    ONNX Runtime would run on the CPU; the session refuses instead."""
    runtime = Runtime(torch.device("cpu"), (CUDA_PROVIDER, CPU_PROVIDER), detect_threads=1, embed_threads=1)
    with pytest.raises(ProviderError, match=CUDA_PROVIDER):
        OnnxSession(resolve("retinaface"), runtime, 1)


def test_a_slurm_job_step_uses_the_cores_it_was_given(monkeypatch: pytest.MonkeyPatch) -> None:
    """Slurm without task affinity pins nothing: SLURM_CPUS_PER_TASK bounds the thread budget."""
    pinned = len(os.sched_getaffinity(0))
    monkeypatch.delenv("SLURM_CPUS_PER_TASK", raising=False)
    assert usable_cores() == pinned
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "1")
    assert usable_cores() == 1
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", str(pinned + 8))
    assert usable_cores() == pinned
