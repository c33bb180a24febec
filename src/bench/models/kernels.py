"""Which arithmetic the recognition model runs in, chosen for the machine at hand.

``hardware.precision=auto`` (the default) picks the fastest path measured to keep LFW accuracy
within 0.1 pp of fp32 for every method: fp16 autocast on CUDA; on the CPU, fp32. Measured on an
AMD EPYC with AVX-512 BF16 and VNNI (EdgeFace-XS, full LFW, every method, one session): bf16
autocast runs the model at 2.28 ms a face against 3.24 on ONNX Runtime fp32 (1.13x end to end,
cosine to fp32 at least 0.9995), and moves the landmark methods by -0.02 to +0.07 pp but
``center_crop`` by -0.28 pp (97.28 to 97.00 %: its hard pairs sit at the threshold; keeping the
attention or the low-rank layers in fp32 gave 97.38-97.40 %, still off by more than 0.1 pp), so
it is not picked; ``hardware.precision=bf16`` runs it, and without bf16 instructions (AVX-512
BF16, AMX) bf16 is emulated and slower than fp32. ONNX Runtime's int8 was measured too and is
not picked: static int8 left embeddings at cosine 0.23 (all ops) or 0.85 (matrix products) to
fp32, dynamic int8 at 0.97, although 1.5x faster with VNNI; the published ``_q`` models are
EdgeFace's own int8 variants, run as they are. Any explicit precision is honoured as given.
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
        return KernelChoice(
            Precision.fp32,
            f"fp32: the CPU has {native[0]}, but bf16 moves LFW accuracy by more than 0.1 pp "
            "(center_crop); hardware.precision=bf16 runs it",
        )
    return KernelChoice(Precision.fp32, "fp32: the CPU has no bf16 instructions (AVX-512 BF16, AMX)")
