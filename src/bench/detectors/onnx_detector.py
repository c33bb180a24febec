"""Base for detectors whose network runs on ONNX Runtime."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
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


def same_shape_groups(arrays: Sequence[np.ndarray], most: int) -> list[list[int]]:
    """Indices of ``arrays`` grouped by shape, in order, in chunks of at most ``most``: the inputs
    one forward pass can stack."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for index, array in enumerate(arrays):
        groups.setdefault(array.shape, []).append(index)
    return [
        members[start : start + most] for members in groups.values() for start in range(0, len(members), most)
    ]


def sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function of raw logits; one far below zero overflows ``exp`` to inf, which
    gives exactly 0, so the overflow is not worth a warning."""
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))
