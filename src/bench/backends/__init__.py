"""Inference back ends shared by the methods (ONNX Runtime sessions)."""

from bench.backends.onnx import OnnxSession, ProviderError, onnx_providers_for

__all__ = ["OnnxSession", "ProviderError", "onnx_providers_for"]
