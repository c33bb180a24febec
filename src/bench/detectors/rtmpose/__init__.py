"""RTMPose face keypoints (mmpose's RTMPose-m "face6"), top-down on ONNX Runtime (registered as
``"rtmpose"``); the steps, the five points and the coordinates are described in ``detector``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench.assets import Asset
from bench.detectors.registry import Requirements
from bench.detectors.rtmpose.options import RTMPoseOptions
from bench.registry import Lazy

if TYPE_CHECKING:
    from bench.plugins import PluginRegistry

#: RTMPose-m face6, mmpose's ONNX SDK export.
WEIGHTS = Asset(
    "rtmpose_m_face6",
    "weights/rtmpose/rtmpose-m_simcc-face6_pt-in1k_120e-256x256-72a37400_20230529.onnx",
    url="https://download.openmmlab.com/mmpose/v1/projects/rtmposev1/onnx_sdk/"
    "rtmpose-m_simcc-face6_pt-in1k_120e-256x256-72a37400_20230529.zip",
    note="RTMPose-m face6 of mmpose (Apache-2.0; 106 LaPa-layout face keypoints, 256x256 "
    "input), published only on the OpenMMLab download server: the URL above is its ONNX "
    "SDK zip, unpacked automatically when online; offline, unzip it and save the "
    "end2end.onnx inside under the file name above (or export the .pth checkpoint of the "
    "same name with mmdeploy's configs/mmpose/pose-detection_simcc_onnxruntime_dynamic.py, "
    "onnx_config.input_shape set to [256, 256])",
)


def register(registry: PluginRegistry) -> None:
    registry.asset(WEIGHTS)
    registry.detector(
        "rtmpose",
        Lazy("bench.detectors.rtmpose.detector:RTMPoseDetector"),
        RTMPoseOptions,
        Requirements((WEIGHTS.name,), ("onnxruntime", "cv2")),
    )


__all__ = ["WEIGHTS", "RTMPoseOptions", "register"]
