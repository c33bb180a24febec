"""Inference back ends shared by the methods (ONNX Runtime sessions)."""

from bench.backends.onnx import OnnxSession, ProviderError

__all__ = ["OnnxSession", "ProviderError"]
