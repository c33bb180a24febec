"""``detector=given``: the data set's own landmarks, as insightface aligns IJB-B/C.

IJB's release gives five points and a detector score for every loose crop; the run reads them
from the data set (``bench.pipeline.face_source``) instead of running a detector. This entry
makes ``given`` a choice of the ``detector`` group with its schema; nothing is built for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.config import FaceSource

if TYPE_CHECKING:
    from bench.plugins import PluginRegistry


@dataclass
class GivenLandmarksOptions:
    """No options: each face's five points come from the data set (IJB's release)."""


def register(registry: PluginRegistry) -> None:
    registry.detector("given", None, GivenLandmarksOptions, source=FaceSource.given)
