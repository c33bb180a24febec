"""RTMPose's options: the ``detector=rtmpose`` config schema (with its box detector's)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bench.config.validate import require
from bench.detectors.options import option_key


@dataclass
class RTMPoseOptions:
    #: Any registered detector that gives face boxes, and its options (its defaults when empty).
    box_detector: str = "yunet"
    box_detector_options: dict[str, Any] = field(default_factory=dict)
    #: Crop = box x this, grown to the input's aspect ratio.
    box_padding: float = 1.25
    #: SimCC bins per input pixel (the face6 codec).
    simcc_split_ratio: float = 2.0
    path: str | None = None

    def __post_init__(self) -> None:
        require(
            self.box_detector != "rtmpose",
            option_key("box_detector"),
            "must be another detector",
            self.box_detector,
        )
        require(self.box_padding > 0, option_key("box_padding"), "must be positive", self.box_padding)
        require(
            self.simcc_split_ratio > 0,
            option_key("simcc_split_ratio"),
            "must be positive",
            self.simcc_split_ratio,
        )
