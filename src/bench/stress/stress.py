"""One stress condition at one severity, applied to each image from a seed of its own.

Every random choice is drawn from the run's ``stress.seed`` and the image's content digest, so
an image is degraded the same way on every run, in any order and on any number of workers. A
degraded image is a different image: results are cached under its content digest mixed with
the condition's key, beside (not instead of) the clean image's.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from bench.cache import config_key
from bench.config import GEOMETRIC_CONDITIONS, StressCondition, StressConfig
from bench.stress import geometric, photometric

#: Bumped when a geometric condition changes what it draws, so no cached result is reused.
FORMAT = 1


class StressError(ValueError):
    """An image the condition cannot degrade (e.g. too small for the corruption library)."""


@dataclass(frozen=True)
class Stressed:
    image: np.ndarray
    #: 2x3 affine map from the clean image's coordinates to these (OpenCV's pixel centres).
    transform: np.ndarray


class Stress:
    """``stress.name`` at ``stress.severity``; ``apply`` degrades one decoded RGB image."""

    def __init__(self, config: StressConfig) -> None:
        self.config = config
        self.active = config.active
        self.key = config_key(
            {
                "format": FORMAT,
                "name": config.name.value,
                "severity": config.severity,
                "seed": config.seed,
                "levels": config.levels,
                "library": self.library,
            }
        )

    @property
    def library(self) -> str | None:
        """What implements the condition, with its version (photometric conditions only)."""
        if not self.active or self.config.name in GEOMETRIC_CONDITIONS:
            return None
        return photometric.library_version()

    def describe(self) -> dict[str, str]:
        return {"stress_library": self.library or "bench.stress.geometric"} if self.active else {}

    def digest(self, content_digest: str) -> str:
        """The cache identity of the degraded image whose clean bytes have ``content_digest``."""
        return hashlib.blake2b(f"{content_digest}:{self.key}".encode(), digest_size=16).hexdigest()

    def apply(self, image: np.ndarray, content_digest: str) -> Stressed:
        if not self.active:
            return Stressed(image, np.eye(2, 3))
        seeds = np.random.SeedSequence([self.config.seed, int(content_digest, 16)])
        name, severity = self.config.name, self.config.severity
        if name not in GEOMETRIC_CONDITIONS:
            if min(image.shape[:2]) < photometric.MIN_SIDE:
                raise StressError(
                    f"stress={name.value} needs an image of at least {photometric.MIN_SIDE} px a side, "
                    f"got {image.shape[1]}x{image.shape[0]}"
                )
            seed = int(seeds.generate_state(1)[0])
            return Stressed(photometric.corrupt(image, name.value, severity, seed), np.eye(2, 3))
        assert self.config.levels is not None  # StressConfig requires levels for these
        level = self.config.levels[severity - 1]
        rng = np.random.default_rng(seeds)
        if name is StressCondition.rotation:
            degrees = level if rng.integers(0, 2) == 0 else -level
            return Stressed(*geometric.rotate(image, degrees))
        if name is StressCondition.small_face:
            return Stressed(*geometric.small_off_centre(image, level, rng))
        if name is StressCondition.downscale:
            return Stressed(*geometric.resize(image, level))
        return Stressed(*geometric.occlude(image, level, rng))
