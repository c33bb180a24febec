"""Name -> detector class, in the manner of timm's model registry."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
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


def backend_class(detector: str, backends: Mapping[str, type[Detector]], backend: str) -> type[Detector]:
    """The implementation a multi-backend detector's ``backend`` option names."""
    try:
        return backends[backend]
    except KeyError:
        raise ValueError(f"unknown {detector} backend {backend!r}; choose from {sorted(backends)}") from None


def list_detectors() -> list[str]:
    return sorted(_REGISTRY)


def create_detector(
    name: str,
    device: str = "cpu",
    onnx_providers: Sequence[str] | None = None,
    num_threads: int | None = None,
    **options: Any,
) -> Detector:
    """Build the detector registered as ``name`` on ``device`` with its config options.

    ONNX Runtime methods also get the hardware group's ``onnx_providers``, and methods whose
    runtime has its own thread pool (a ``num_threads`` argument) get the detection thread budget;
    the others run on OpenCV's or torch's process-wide pools, which the runner sizes.
    """
    cls = detector_class(name)
    if issubclass(cls, OnnxDetector):
        options["providers"] = onnx_providers
    if num_threads is not None and "num_threads" in inspect.signature(cls).parameters:
        options.setdefault("num_threads", num_threads)
    try:
        return cls(device=device, **options)
    except TypeError as error:
        # A misspelt option in the config: say which, and where the valid ones are listed.
        if "unexpected keyword argument" not in str(error):
            raise
        raise ValueError(
            f"detector {name!r} has no such option: {error}; its options are the keys under "
            f"`options:` in conf/detector/{name}.yaml"
        ) from None
