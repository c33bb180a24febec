"""Where the face is in an image, for the conditions placed by its landmarks.

The reference landmarks (``detector=reference``: per image the median of four detectors') are
found once per image in a process, on the CPU whatever the run's device: a stress sweep places
every condition and severity on the same face. An image without a reference face cannot be
degraded this way, and is a counted failure of the run.
"""

from __future__ import annotations

import threading

import numpy as np

from bench.detectors.base import Detector


class ReferenceFaces:
    """Each image's reference face (five points), by content digest, computed on first need."""

    def __init__(self) -> None:
        self._detector: Detector | None = None
        self._landmarks: dict[str, np.ndarray | None] = {}
        self._lock = threading.Lock()

    def landmarks(self, image: np.ndarray, content_digest: str) -> np.ndarray | None:
        """The five reference points of ``image``'s face, or ``None`` where too few detectors
        find one (the detectors are not thread-safe alike: one image at a time)."""
        with self._lock:
            if content_digest not in self._landmarks:
                (faces,) = self._reference().detect([image])
                self._landmarks[content_digest] = faces[0].landmarks if faces else None
            return self._landmarks[content_digest]

    def weights(self) -> list[str]:
        """The SHA-256 of every weights file the reference detectors load: what the faces depend on."""
        from bench.assets.resolver import sha256_of
        from bench.detectors import detector_entry
        from bench.detectors.reference import ReferenceOptions

        return [sha256_of(path) for path in detector_entry("reference").weights(ReferenceOptions())]

    def _reference(self) -> Detector:
        if self._detector is None:
            from bench.detectors import create_detector  # every detector: only once needed
            from bench.runtime import Runtime

            self._detector = create_detector("reference", Runtime.local("cpu", threads=1))
        return self._detector


REFERENCE_FACES = ReferenceFaces()
