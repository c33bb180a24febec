"""ONNX Runtime sessions whose execution provider is what the ``hardware`` group asked for.

ONNX Runtime silently runs a model on the CPU when the CUDA provider fails to load (no GPU,
missing CUDA libraries); a benchmark must not, so the provider that actually ran is checked
after the session is built and a mismatch is an error.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from bench.runtime import CUDA_PROVIDER, Runtime


class ProviderError(RuntimeError):
    """The requested execution provider is not the one running the model."""


class OnnxSession:
    """One model on ONNX Runtime with the runtime's providers, on ``num_threads`` intra-op
    threads (``None``: ONNX Runtime's default); ``provider`` is the provider that actually runs it."""

    def __init__(self, path: Path, runtime: Runtime, num_threads: int | None = None) -> None:
        requested = list(runtime.onnx_providers)
        device = runtime.device_name
        unknown = [name for name in requested if name not in ort.get_available_providers()]
        if unknown:
            raise ProviderError(
                f"{path.name}: ONNX Runtime {ort.__version__} has no {unknown}; this build offers "
                f"{ort.get_available_providers()} (install onnxruntime-gpu for CUDA)"
            )
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only: provider fall-backs are checked below
        if num_threads:
            options.intra_op_num_threads = num_threads
        # Idle workers would spin waiting for the next run, taking cores from the stages that
        # overlap with this one.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        device_id = runtime.device.index or 0
        provider_options = [{"device_id": device_id} if name == CUDA_PROVIDER else {} for name in requested]
        self.session = ort.InferenceSession(
            str(path), options, providers=requested, provider_options=provider_options
        )
        self.provider = self.session.get_providers()[0]
        if self.provider != requested[0]:
            raise ProviderError(
                f"{path.name}: asked ONNX Runtime for {requested[0]} on {device}, but it runs on "
                f"{self.provider} (no usable GPU or CUDA libraries?); use hardware=cpu or fix the GPU set-up"
            )
        self.input_names = [node.name for node in self.session.get_inputs()]
        self.output_names = [node.name for node in self.session.get_outputs()]

    def run(self, *inputs: np.ndarray) -> list[np.ndarray]:
        """Run on positional inputs; outputs in the graph's order."""
        return self.session.run(self.output_names, dict(zip(self.input_names, inputs, strict=True)))

    @property
    def input_shape(self) -> list[int | str | None]:
        return list(self.session.get_inputs()[0].shape)

    def output_width(self) -> int | None:
        """The first output's last dimension when the graph fixes it (an embedding's width)."""
        shape = self.session.get_outputs()[0].shape
        return shape[-1] if shape and isinstance(shape[-1], int) else None
