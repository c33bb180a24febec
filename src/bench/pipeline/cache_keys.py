"""What a cached detection or embedding depends on, hashed into the cache's config keys."""

from __future__ import annotations

import dataclasses

from bench.cache import config_key
from bench.config import BenchConfig
from bench.runtime import Runtime

#: Bumped when the runner changes what it stores, so old entries are never misread.
FORMAT = 1


def detection_key(config: BenchConfig, runtime: Runtime) -> str:
    """The detector's name and options, and the kind of device (GPU kernels round differently)."""
    return config_key(
        {
            "format": FORMAT,
            "detector": dataclasses.asdict(config.detector),
            "detect_max_side": config.detect_max_side,
            "device": runtime.device.type,
        }
    )


def embedding_key(config: BenchConfig, runtime: Runtime) -> str:
    """Everything that decides which face is aligned and how it is embedded."""
    return config_key(
        {
            "detection": detection_key(config, runtime),
            "selection": config.selection,
            "failure_policy": config.failure_policy,
            "fallback_crop_fraction": config.fallback_crop_fraction,
            "model": dataclasses.asdict(config.model),
            "precision": config.hardware.precision,
        }
    )
