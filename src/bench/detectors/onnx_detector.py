"""Base for detectors whose network runs on ONNX Runtime."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import onnxruntime as ort

from bench.backends import OnnxSession
from bench.detectors.base import Detector


class OnnxDetector(Detector):
    """Holds the ONNX Runtime session; the registry hands it the ``hardware`` group's
    ``onnx_providers``, and ``describe`` records the provider that actually ran."""

    def __init__(
        self,
        weights: Path,
        device: str = "cpu",
        providers: Sequence[str] | None = None,
        num_threads: int | None = None,
    ) -> None:
        self.weights = weights
        self.session = OnnxSession(weights, device, providers, num_threads)
        self.device = device

    def describe(self) -> dict[str, str]:
        return {
            **super().describe(),
            "detector_backend": f"onnxruntime {ort.__version__}",
            "detector_provider": self.session.provider,
            "detector_weights": str(self.weights),
        }
