"""One thread budget per stage, so detection and recognition do not fight over the cores."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cv2
import torch


@dataclass(frozen=True)
class ThreadBudget:
    #: Threads of the detector's library: OpenCV, its ONNX Runtime session, or torch (MTCNN).
    detect: int
    #: Intra-op threads of each recognition worker.
    embed: int


def thread_budget(hardware: Mapping[str, Any], embed_workers: int = 1, overlap: bool = True) -> ThreadBudget:
    """The configured budget. ``null``, when the stages overlap, gives detection half the cores
    and splits the other half between the recognition workers; when they run one after the
    other (and recognition runs inline, with no workers), each stage in turn gets every core,
    as the libraries would by default."""
    cores = os.cpu_count() or 2
    share, workers = (max(1, cores // 2), embed_workers) if overlap else (cores, 1)
    detect, embed = hardware.get("detect_threads"), hardware.get("embed_threads")
    budget = ThreadBudget(
        detect=share if detect is None else detect,
        embed=max(1, share // workers) if embed is None else embed,
    )
    for key, value in (("detect_threads", budget.detect), ("embed_threads", budget.embed)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"hardware.{key} must be a positive integer or null, got {value!r}")
    return budget


def apply_thread_budget(budget: ThreadBudget) -> None:
    """Set the process-wide pools: OpenCV's for detection; torch's is shared by MTCNN and a
    torch recognition model, so it gets the larger of the two."""
    cv2.setNumThreads(budget.detect)
    torch.set_num_threads(max(budget.detect, budget.embed))
