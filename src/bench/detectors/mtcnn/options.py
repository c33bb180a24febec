"""MTCNN's options: the schema of ``conf/detector/mtcnn.yaml``."""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.config.validate import require
from bench.detectors.options import option_key


@dataclass
class MTCNNOptions:
    """A cascade: one score and one NMS threshold per stage (P-, R-, O-Net)."""

    min_face_size: int = 20
    score_threshold: list[float] = field(default_factory=lambda: [0.6, 0.7, 0.7])
    nms_threshold: list[float] = field(default_factory=lambda: [0.7, 0.7, 0.7])
    scale_factor: float = 0.709
    #: A folder holding ``pnet.pt``, ``rnet.pt`` and ``onet.pt``.
    path: str | None = None

    def __post_init__(self) -> None:
        for key in ("score_threshold", "nms_threshold"):
            values = getattr(self, key)
            require(len(values) == 3, option_key(key), "needs one value per net (P, R, O)", values)
            require(
                all(0.0 <= value <= 1.0 for value in values),
                option_key(key),
                "must lie in [0, 1] for every net",
                values,
            )
        require(
            0.0 < self.scale_factor < 1.0, option_key("scale_factor"), "must lie in (0, 1)", self.scale_factor
        )
        require(self.min_face_size >= 1, option_key("min_face_size"), "must be >= 1", self.min_face_size)
