"""Name -> detector class, in the manner of timm's model registry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from bench.detectors.base import Detector

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


def list_detectors() -> list[str]:
    return sorted(_REGISTRY)


def create_detector(name: str, **options: Any) -> Detector:
    """Build the detector registered as ``name`` with its config options."""
    try:
        cls = _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown detector {name!r}; registered: {', '.join(list_detectors())}") from None
    return cls(**options)
