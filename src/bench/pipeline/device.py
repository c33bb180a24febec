"""``hardware.device=auto``: the GPU when there is one, else the CPU, said out loud."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import torch

log = logging.getLogger(__name__)


def resolve_device(hardware: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    """The hardware settings with a concrete device, and a note for the run record ("" unless
    ``auto`` had to choose)."""
    resolved = dict(hardware)
    if hardware["device"] != "auto":
        return resolved, ""
    if torch.cuda.is_available():
        resolved["device"] = "cuda"
        return resolved, f"auto: CUDA device {torch.cuda.get_device_name()} found"
    resolved["device"] = "cpu"
    note = "auto: no CUDA device, fell back to the CPU"
    log.warning("hardware.device=%s", note)
    return resolved, note
