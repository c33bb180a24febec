"""Which arithmetic the recognition model runs in, chosen for the machine at hand.

``hardware.precision=auto`` (the default) picks per model the fastest path measured to keep
the embeddings: bf16 autocast where the CPU has bf16 instructions (AVX-512 BF16 or AMX), fp32
elsewhere on the CPU, fp16 autocast on CUDA. Measured on an AMD EPYC with AVX-512 BF16 and
VNNI, EdgeFace-XS at batch 32 on one thread: fp32 on ONNX Runtime 3.24 ms a face, fp32 on
PyTorch 3.87, bf16 on PyTorch 2.28 (cosine to fp32 at least 0.9995 on LFW faces). int8 is not
chosen for float models: ONNX Runtime's static int8 left embeddings at cosine 0.23 (all ops)
or 0.85 (matrix products only) to fp32, and dynamic int8 at 0.97, although 1.5x faster with
VNNI; the published ``_q`` models are EdgeFace's own int8 variants, run as they are. Without
bf16 instructions bf16 is emulated and slower than fp32, so it is never picked there. Any
explicit precision is honoured as given.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from bench.config import EmbedBackend, Precision
from bench.cpu import KERNEL_FLAGS, CpuInfo, cpu_info

#: CPU flags with native bf16 arithmetic.
BF16_FLAGS = ("amx_bf16", "avx512_bf16")


@dataclass(frozen=True)
class KernelChoice:
    """The precision a model runs in, and why (recorded with the run as ``model_kernels``)."""

    precision: Precision
    reason: str


def choose_precision(
    requested: Precision,
    *,
    device: torch.device,
    quantized: bool,
    backend: EmbedBackend,
    cpu: CpuInfo | None = None,
) -> KernelChoice:
    """``requested`` itself unless it is ``auto``; then what the device and ``cpu`` (this
    machine's by default) run fastest without changing the embeddings (see the module notes)."""
    if requested is not Precision.auto:
        return KernelChoice(requested, f"{requested}: as configured")
    if quantized:
        return KernelChoice(Precision.fp32, "fp32: a dynamic int8 model takes fp32 input")
    if backend is EmbedBackend.onnxruntime:
        return KernelChoice(Precision.fp32, "fp32: backend=onnxruntime runs the exported fp32 graph")
    if device.type == "cuda":
        return KernelChoice(Precision.fp16, "fp16: autocast on CUDA")
    cpu = cpu or cpu_info()
    native = [KERNEL_FLAGS[flag] for flag in BF16_FLAGS if cpu.has(flag)]
    if native:
        return KernelChoice(Precision.bf16, f"bf16: the CPU has {native[0]} (PyTorch autocast)")
    return KernelChoice(Precision.fp32, "fp32: the CPU has no bf16 instructions (AVX-512 BF16, AMX)")
