"""``detector=none``: the images already are aligned faces (``dataset=lfw_aligned``), so that the
model sees exactly the reference crops: no detection, no warp (``bench.pipeline.face_source``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.config import FaceSource

if TYPE_CHECKING:
    from bench.plugins import PluginRegistry


@dataclass
class AlignedInputOptions:
    """No options: each image is the face."""


def register(registry: PluginRegistry) -> None:
    registry.detector("none", None, AlignedInputOptions, source=FaceSource.aligned, scored=False)
