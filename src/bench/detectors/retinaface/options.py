"""RetinaFace's options: the ``detector=retinaface`` config schema."""

from __future__ import annotations

from dataclasses import dataclass

from bench.config.validate import require
from bench.detectors.options import check_thresholds, option_key


@dataclass
class RetinaFaceOptions:
    score_threshold: float = 0.5
    nms_threshold: float = 0.4
    #: Candidates entering the NMS, and faces kept after it.
    top_k: int = 5000
    keep_top_k: int = 750
    #: Images whose longer side exceeds this are shrunk to it; ``None``: native size.
    input_size: int | None = None
    path: str | None = None

    def __post_init__(self) -> None:
        check_thresholds(self)
        if self.input_size is not None:
            require(
                self.input_size >= 32,
                option_key("input_size"),
                "must be >= 32 pixels or null",
                self.input_size,
            )
