"""What a cached detection or embedding depends on, hashed into the cache's config keys."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from bench.cache import config_key

#: Bumped when the runner changes what it stores, so old entries are never misread.
FORMAT = 1


def detection_key(cfg: Mapping[str, Any]) -> str:
    """The detector's name and options, and the kind of device (GPU kernels round differently)."""
    return config_key(
        {
            "format": FORMAT,
            "detector": cfg["detector"],
            "detect_max_side": cfg["detect_max_side"],
            "device": torch.device(cfg["hardware"]["device"]).type,
        }
    )


def embedding_key(cfg: Mapping[str, Any]) -> str:
    """Everything that decides which face is aligned and how it is embedded."""
    hardware = cfg["hardware"]
    return config_key(
        {
            "detection": detection_key(cfg),
            "selection": cfg["selection"],
            "failure_policy": cfg["failure_policy"],
            "fallback_crop_fraction": cfg["fallback_crop_fraction"],
            "model": cfg["model"],
            "precision": hardware["precision"],
        }
    )
