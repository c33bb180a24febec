"""Instruction-set caps: run anything with every library kept off the instructions above a CPU
class, so that a machine with AVX-512 also measures what an AVX2-only machine would.

    bench isa                                     # this CPU, and what each library dispatches to
    bench isa --cap avx2 -- make perf-pipeline    # a command under the AVX2 cap

Each library picks its kernels once, when it loads, from the CPU and its own environment
variable, so a cap is an environment the command starts in, never a setting changed inside a
run. ONNX Runtime's MLAS, MediaPipe's XNNPACK and dlib read CPUID themselves and offer no such
variable: under a cap they still use every instruction the CPU has, and ``bench isa`` says so.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

_AVX512_OPENCV = "AVX512F,AVX512BW,AVX512CD,AVX512DQ,AVX512VL,AVX512IFMA,AVX512VBMI,AVX512VBMI2,AVX512VNNI"
#: NumPy 2.4's dispatch targets above AVX2 (``X86_V3``).
_AVX512_NUMPY = "X86_V4 AVX512_ICL AVX512_SPR"


@dataclass(frozen=True)
class IsaCap:
    """A CPU class: the ``/proc/cpuinfo`` flags it keeps, and the environment that holds each
    library to them."""

    name: str
    keeps: frozenset[str]
    environment: Mapping[str, str]

    def active(self, environ: Mapping[str, str]) -> bool:
        """Whether ``environ`` holds every variable of the cap as the cap sets it."""
        return all(environ.get(key) == value for key, value in self.environment.items())


#: The caps ``bench isa --cap`` knows: one home for the variables each library reads.
CAPS = {
    "avx2": IsaCap(
        "avx2",
        frozenset({"avx2", "fma"}),
        {
            "ATEN_CPU_CAPABILITY": "avx2",  # PyTorch's own kernels
            "DNNL_MAX_CPU_ISA": "AVX2",  # oneDNN: PyTorch's convolutions and matrix products
            "ONEDNN_MAX_CPU_ISA": "AVX2",  # the same, under oneDNN's newer name
            "MKL_ENABLE_INSTRUCTIONS": "AVX2",  # MKL, which PyTorch links
            "OPENBLAS_CORETYPE": "Haswell",  # NumPy's and SciPy's OpenBLAS: its AVX2 kernels
            "NPY_DISABLE_CPU_FEATURES": _AVX512_NUMPY,  # NumPy's own dispatch
            "OPENCV_CPU_DISABLE": _AVX512_OPENCV,  # OpenCV's dispatch (YuNet on OpenCV DNN, resizing)
        },
    ),
}
#: What no variable caps: they read CPUID themselves.
UNCAPPED = ("ONNX Runtime (MLAS)", "XNNPACK (MediaPipe)", "dlib")


def active_cap(environ: Mapping[str, str] | None = None) -> IsaCap | None:
    """The cap this process started under (``os.environ`` by default), if any."""
    environ = os.environ if environ is None else environ
    return next((cap for cap in CAPS.values() if cap.active(environ)), None)


def dispatched() -> dict[str, str]:
    """What each capped library actually dispatches to in this process (it loads them)."""
    import cv2
    import numpy as np
    import torch

    avx512 = 13  # OpenCV's CV_CPU_AVX_512F; cv2 does not export the constant
    return {
        "PyTorch": torch.backends.cpu.get_cpu_capability(),
        "oneDNN": os.environ.get("DNNL_MAX_CPU_ISA", "the CPU's best"),
        "OpenCV": "AVX-512" if cv2.checkHardwareSupport(avx512) else "AVX2 or lower",
        "NumPy": " ".join(np.__config__.CONFIG["SIMD Extensions"]["found"]),
    }


def main(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench isa", description=__doc__.split("\n\n")[0])
    parser.add_argument("--cap", choices=sorted(CAPS), help="the CPU class to hold every library to")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command to run under it")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if command and args.cap is None:
        parser.error("a command needs --cap")
    if args.cap is not None and not CAPS[args.cap].active(os.environ):
        # With no command, this report again, under the cap.
        command = command or [sys.executable, "-m", "bench", "isa"]
        os.execvpe(command[0], command, {**os.environ, **CAPS[args.cap].environment})
    if command:
        os.execvp(command[0], command)
    from bench.cpu import cpu_info

    print(cpu_info())
    for library, level in dispatched().items():
        print(f"  {library}: {level}")
    print(f"  not capped by any variable: {', '.join(UNCAPPED)}")
