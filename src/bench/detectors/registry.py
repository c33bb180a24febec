"""Name -> detector class, in the manner of timm's model registry."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from bench.detectors.base import Detector
from bench.detectors.onnx_detector import OnnxDetector

_REGISTRY: dict[str, type[Detector]] = {}

DetectorT = TypeVar("DetectorT", bound=type[Detector])


def register_detector(name: str) -> Callable[[DetectorT], DetectorT]:
    """Class decorator that makes a detector creatable by ``name``."""

    def decorate(cls: DetectorT) -> DetectorT:
        if name in _REGISTRY:
            raise ValueError(f"detector {name!r} is already registered by {_REGISTRY[name]}")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return decorate


def detector_class(name: str) -> type[Detector]:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown detector {name!r}; registered: {', '.join(list_detectors())}") from None


def list_detectors() -> list[str]:
    return sorted(_REGISTRY)


def create_detector(
    name: str, device: str = "cpu", onnx_providers: Sequence[str] | None = None, **options: Any
) -> Detector:
    """Build the detector registered as ``name`` on ``device`` with its config options;
    ONNX Runtime methods also get the hardware group's ``onnx_providers``."""
    cls = detector_class(name)
    if issubclass(cls, OnnxDetector):
        options["providers"] = onnx_providers
    return cls(device=device, **options)
