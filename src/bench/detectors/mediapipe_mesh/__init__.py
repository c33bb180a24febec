"""MediaPipe Face Mesh: 468 landmarks on a BlazeFace crop, the mesh model run under LiteRT
(registered as ``"mediapipe_mesh"``); the crop and the five points are described in ``detector``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench.detectors.mediapipe_common import mediapipe_asset
from bench.detectors.mediapipe_mesh.options import MediaPipeMeshOptions
from bench.detectors.registry import Requirements
from bench.registry import Lazy

if TYPE_CHECKING:
    from bench.plugins import PluginRegistry

#: The mesh model.
MESH_WEIGHTS = mediapipe_asset(
    "face_landmark", "2efcb4f4de43c7614b80a3cc3e8a37354b3b3b40f75cce20f6f38f0f25d65493"
)
#: The attention variant (478 points), which does not run under LiteRT: it needs MediaPipe's custom
#: ops (Landmarks2TransformMatrix...).
ATTENTION_MESH_WEIGHTS = mediapipe_asset(
    "face_landmark_with_attention", "e06a804e0144f9929eda782122916b35d60c697c3c9344013ca2bbe76a6ce2b4"
)


def register(registry: PluginRegistry) -> None:
    registry.asset(MESH_WEIGHTS)
    registry.asset(ATTENTION_MESH_WEIGHTS)
    registry.detector(
        "mediapipe_mesh",
        Lazy("bench.detectors.mediapipe_mesh.detector:MediaPipeMeshDetector"),
        MediaPipeMeshOptions,
        Requirements((MESH_WEIGHTS.name,), ("ai_edge_litert",)),
    )


__all__ = ["ATTENTION_MESH_WEIGHTS", "MESH_WEIGHTS", "MediaPipeMeshOptions", "register"]
