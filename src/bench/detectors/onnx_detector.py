"""Base for detectors whose network runs on ONNX Runtime."""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort

from bench.backends import OnnxSession
from bench.detectors.base import Detector
from bench.runtime import Runtime


class OnnxDetector(Detector):
    """Holds the ONNX Runtime session, built with the runtime's providers and detection thread
    budget; ``describe`` records the provider that actually ran."""

    def __init__(self, weights: Path, runtime: Runtime, graph: Path | None = None) -> None:
        """``graph``: the file the session loads when it is not ``weights`` itself (a patched copy)."""
        self.weights = weights
        self.session = OnnxSession(graph or weights, runtime, runtime.detect_threads)
        self.device = runtime.device_name

    def describe(self) -> dict[str, str]:
        return {
            **super().describe(),
            "detector_backend": f"onnxruntime {ort.__version__}",
            "detector_provider": self.session.provider,
            "detector_weights": str(self.weights),
        }
