"""YuNet's options and backends: the schema of ``conf/detector/yunet.yaml``."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bench.config.validate import require
from bench.detectors.options import check_thresholds, option_key


class YuNetBackend(StrEnum):
    onnxruntime = "onnxruntime"
    opencv = "opencv"


@dataclass
class YuNetOptions:
    backend: YuNetBackend = YuNetBackend.onnxruntime
    score_threshold: float = 0.6
    nms_threshold: float = 0.3
    #: Candidates kept by the NMS.
    top_k: int = 5000
    path: str | None = None

    def __post_init__(self) -> None:
        check_thresholds(self)
        require(self.top_k >= 1, option_key("top_k"), "must be >= 1", self.top_k)
