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
from bench.config import StressConfig, StressKind
from bench.stress import photometric
from bench.stress.degradation import Degradation, StressError
from bench.stress.distractor import Donor, FaceDonors
from bench.stress.faces import REFERENCE_FACES
from bench.stress.specs import spec_of

#: Bumped when a geometric condition changes what it draws, so no cached result is reused.
FORMAT = 1


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


@dataclass(frozen=True)
class Stressed:
    image: np.ndarray
    #: 2x3 affine map from the clean image's coordinates to these (OpenCV's pixel centres).
    transform: np.ndarray
    #: The degraded image's cache identity (``Stress.digest``).
    digest: str


#: Independent random streams from one image's seed: the condition's draws, and the donor's
#: (a child stream, so that adding it changed no condition's draws).
_CONDITION_STREAM: tuple[int, ...] = ()
_DONOR_STREAM = (1,)


class Stress:
    """``stress.name`` at ``stress.severity``; ``apply`` degrades one decoded RGB image.
    ``donors`` are the run's images, where ``distractor`` takes its faces from."""

    def __init__(self, config: StressConfig, donors: FaceDonors | None = None) -> None:
        self.config = config
        self.active = config.active
        self.donors = donors
        self.spec = spec_of(config.name)
        self.key = config_key(
            {
                "format": FORMAT,
                "name": config.name.value,
                "severity": config.severity,
                "seed": config.seed,
                "levels": config.levels,
                "library": self.library,
                "reference_weights": (
                    REFERENCE_FACES.weights() if self.spec.needs_reference_landmarks else None
                ),
            }
        )

    @property
    def library(self) -> str | None:
        """What implements the condition, with its version (photometric conditions only)."""
        return photometric.library_version() if self.spec.kind is StressKind.photometric else None

    def describe(self) -> dict[str, str]:
        return {"stress_library": self.library or "bench.stress.geometric"} if self.active else {}

    def draw_donor(self, content_digest: str, path: str) -> Donor | None:
        """The other person's image the condition pastes a face from into the image ``path``
        (with clean bytes of ``content_digest``), read; ``None`` for a condition that takes none."""
        if not self.active or not self.spec.needs_donors:
            return None
        if self.donors is None:
            raise StressError("stress=distractor needs the run's images to take another person's face from")
        return self.donors.draw(path, np.random.default_rng(self._seeds(content_digest, _DONOR_STREAM)))

    def digest(self, content_digest: str, donor: Donor | None = None) -> str:
        """The cache identity of the degraded image: the clean bytes' digest, the condition's key
        and the bytes of the ``donor`` it draws on, if any; never a name."""
        parts = [content_digest, self.key] + ([donor.digest] if donor is not None else [])
        return hashlib.blake2b(":".join(parts).encode(), digest_size=16).hexdigest()

    def apply(self, image: np.ndarray, content_digest: str, donor: Donor | None = None) -> Stressed:
        """``image`` degraded; the same image (by content, with the same donor's) gives the same
        bytes every time. ``donor`` is ``draw_donor``'s for this image."""
        if not self.active:
            return Stressed(image, np.eye(2, 3), content_digest)
        digest = self.digest(content_digest, donor)
        stressed = _RECENT.get(digest)
        if stressed is None:
            stressed = self.degrade(image, content_digest, donor)
            _RECENT.put(digest, stressed)
        return stressed

    def degrade(self, image: np.ndarray, content_digest: str, donor: Donor | None = None) -> Stressed:
        """``apply`` without the process's recent images: computed here and now, by the
        condition's spec."""
        landmarks = (
            self._reference_landmarks(image, content_digest) if self.spec.needs_reference_landmarks else None
        )
        job = Degradation(
            image=image,
            condition=self.config.name,
            severity=self.config.severity,
            levels=self.config.levels,
            seeds=self._seeds(content_digest, _CONDITION_STREAM),
            landmarks=landmarks,
            donor=donor,
        )
        return Stressed(*self.spec.apply(job), self.digest(content_digest, donor))

    def _seeds(self, content_digest: str, stream: tuple[int, ...]) -> np.random.SeedSequence:
        """The image's own seed: the run's ``stress.seed`` and the content, never the name."""
        return np.random.SeedSequence([self.config.seed, int(content_digest, 16)], spawn_key=stream)

    def _reference_landmarks(self, image: np.ndarray, content_digest: str) -> np.ndarray:
        landmarks = REFERENCE_FACES.landmarks(image, content_digest)
        if landmarks is None:
            raise StressError(
                f"stress={self.config.name.value} is placed by the face's reference landmarks, and fewer "
                "than 3 of the reference detectors found a face in this image"
            )
        return landmarks
