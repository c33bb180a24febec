"""One stress condition at one severity, applied to each image from a seed of its own.

Every random choice is drawn from the run's ``stress.seed`` and the image's content digest, so
an image is degraded the same way on every run, in any order and on any number of workers. A
degraded image is a different image: results are cached under its content digest mixed with
the condition's key, beside (not instead of) the clean image's.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from bench.cache import config_key
from bench.config import GEOMETRIC_CONDITIONS, StressCondition, StressConfig
from bench.stress import geometric, photometric
from bench.stress.distractor import FaceDonors
from bench.stress.faces import REFERENCE_FACES

#: Bumped when a geometric condition changes what it draws, so no cached result is reused.
FORMAT = 1


_PLACED_BY_THE_FACE = {
    StressCondition.resolution: geometric.to_inter_ocular,
    StressCondition.eye_band: geometric.eye_band,
    StressCondition.lower_face: geometric.lower_face,
}


class _RecentImages:
    """The degraded images of the last jobs in this process, up to a byte budget.

    A stress sweep runs every method on the same degraded images (Hydra varies the last override
    fastest: ``make stress`` puts ``detector`` last), and a corruption can cost more than the
    detector (zoom blur about 100 ms an image): each image is degraded once per condition and
    severity, not once per method. Arrays are stored read-only, so no job can alter another's.
    """

    def __init__(self, budget_bytes: int) -> None:
        self.budget = budget_bytes
        self.size = 0
        self.images: OrderedDict[str, Stressed] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, digest: str) -> Stressed | None:
        with self.lock:
            found = self.images.get(digest)
            if found is not None:
                self.images.move_to_end(digest)
            return found

    def put(self, digest: str, stressed: Stressed) -> None:
        stressed.image.flags.writeable = False
        with self.lock:
            if digest in self.images or stressed.image.nbytes > self.budget:
                return
            self.images[digest] = stressed
            self.size += stressed.image.nbytes
            while self.size > self.budget:
                _, dropped = self.images.popitem(last=False)
                self.size -= dropped.image.nbytes


#: 512 MiB holds two folds of LFW (about 2,300 images of 250x250) degraded.
_RECENT = _RecentImages(512 * 2**20)


class StressError(ValueError):
    """An image the condition cannot degrade (e.g. too small for the corruption library)."""


@dataclass(frozen=True)
class Stressed:
    image: np.ndarray
    #: 2x3 affine map from the clean image's coordinates to these (OpenCV's pixel centres).
    transform: np.ndarray


class Stress:
    """``stress.name`` at ``stress.severity``; ``apply`` degrades one decoded RGB image.
    ``donors`` are the run's images, where ``distractor`` takes its faces from."""

    def __init__(self, config: StressConfig, donors: FaceDonors | None = None) -> None:
        self.config = config
        self.active = config.active
        self.donors = donors
        distractor = config.name is StressCondition.distractor
        self.key = config_key(
            {
                "format": FORMAT,
                "name": config.name.value,
                "severity": config.severity,
                "seed": config.seed,
                "levels": config.levels,
                "library": self.library,
                "donors": donors.fingerprint if distractor and donors is not None else None,
                "reference_weights": REFERENCE_FACES.weights() if self._placed_by_the_face else None,
            }
        )

    @property
    def _placed_by_the_face(self) -> bool:
        return self.config.name in _PLACED_BY_THE_FACE or self.config.name is StressCondition.distractor

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

    def apply(self, image: np.ndarray, content_digest: str, path: str | None = None) -> Stressed:
        """``image`` degraded; the same image (by content) gives the same bytes every time.
        ``path`` (the image's name in the data set) tells ``distractor`` whose face it is."""
        if not self.active:
            return Stressed(image, np.eye(2, 3))
        digest = self.digest(content_digest)
        stressed = _RECENT.get(digest)
        if stressed is None:
            stressed = self.degrade(image, content_digest, path)
            _RECENT.put(digest, stressed)
        return stressed

    def degrade(self, image: np.ndarray, content_digest: str, path: str | None = None) -> Stressed:
        """``apply`` without the process's recent images: computed here and now."""
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
        if self._placed_by_the_face:
            landmarks = REFERENCE_FACES.landmarks(image, content_digest)
            if landmarks is None:
                raise StressError(
                    f"stress={name.value} is placed by the face's reference landmarks, and fewer than "
                    "3 of the reference detectors found a face in this image"
                )
            if name is StressCondition.distractor:
                return self._distractor(image, landmarks, level, path, np.random.default_rng(seeds))
            return Stressed(*_PLACED_BY_THE_FACE[name](image, landmarks, level))
        rng = np.random.default_rng(seeds)
        if name is StressCondition.rotation:
            degrees = level if rng.integers(0, 2) == 0 else -level
            return Stressed(*geometric.rotate(image, degrees))
        if name is StressCondition.small_face:
            return Stressed(*geometric.small_off_centre(image, level, rng))
        if name is StressCondition.downscale:
            return Stressed(*geometric.resize(image, level))
        return Stressed(*geometric.occlude(image, level, rng))

    def _distractor(
        self,
        image: np.ndarray,
        landmarks: np.ndarray,
        size: float,
        path: str | None,
        rng: np.random.Generator,
    ) -> Stressed:
        if self.donors is None or path is None:
            raise StressError("stress=distractor needs the run's images to take another person's face from")
        drawn = self.donors.draw(path, rng)
        if drawn is None:
            raise StressError(f"stress=distractor: every image of the data set shows the person of {path}")
        donor_path, donor, donor_digest = drawn
        donor_landmarks = REFERENCE_FACES.landmarks(donor, donor_digest)
        if donor_landmarks is None:
            raise StressError(f"stress=distractor: the reference detectors find no face in {donor_path}")
        side = -1 if rng.integers(0, 2) == 0 else 1
        return Stressed(*geometric.paste_face(image, landmarks, donor, donor_landmarks, size, side))
