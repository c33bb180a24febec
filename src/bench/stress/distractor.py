"""Distractor faces: another person's face from the run's own images, for ``stress=distractor``.

A person is an image's folder (LFW keeps one folder per person); in a flat folder every image is
its own person. The donor is drawn from the images of other people, by the image's seed; the
degraded image depends on the donor's bytes, so its cache identity holds their digest (and no
name: renaming a donor misses nothing, changing its pixels misses everything it was pasted in).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.cache import bytes_digest
from bench.data import ImageDecodeError, decode_image_bytes, read_image_bytes
from bench.stress import geometric
from bench.stress.degradation import Degradation, StressError
from bench.stress.faces import REFERENCE_FACES


def person(path: str) -> str:
    """The person an image shows: its folder, or the image itself when it has none."""
    return path.rsplit("/", 1)[0] if "/" in path else path


@dataclass(frozen=True)
class Donor:
    """The image a distractor face is taken from: its bytes as read once, and their digest, so
    that the face pasted is the one the cache key names."""

    data: bytes
    digest: str
    max_pixels: int

    def pixels(self) -> np.ndarray:
        """The donor decoded; a failure is the degraded image's, cached under its content, so its
        reason names no file (only ``error.reason`` is kept, the path given here is never shown)."""
        try:
            return decode_image_bytes(self.data, Path("donor"), self.max_pixels)
        except ImageDecodeError as error:
            raise StressError(f"stress=distractor: the other person's image drawn: {error.reason}") from None


@dataclass(frozen=True)
class FaceDonors:
    """The images a distractor face can come from: the data set's, read as the run reads them."""

    root: Path
    paths: tuple[str, ...]
    max_pixels: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "paths", tuple(sorted(set(self.paths))))

    def draw(self, path: str, rng: np.random.Generator) -> Donor:
        """Another person's image for ``path``, read; a ``StressError`` when every image shows
        the same person or the one drawn cannot be read."""
        others = [other for other in self.paths if person(other) != person(path)]
        if not others:
            raise StressError(f"stress=distractor: every image of the data set shows the person of {path}")
        chosen = others[int(rng.integers(len(others)))]
        try:
            data = read_image_bytes(self.root / chosen, self.root)
        except ImageDecodeError as error:
            raise StressError(f"stress=distractor: the other person's image drawn: {error}") from None
        return Donor(data, bytes_digest(data), self.max_pixels)


def paste_distractor(job: Degradation) -> geometric.Transformed:
    """The donor's face pasted beside this one on a random side, its eyes ``job.level`` times
    this face's inter-ocular distance apart."""
    if job.donor is None:
        raise StressError("stress=distractor needs the run's images to take another person's face from")
    donor = job.donor.pixels()
    donor_landmarks = REFERENCE_FACES.landmarks(donor, job.donor.digest)
    if donor_landmarks is None:
        raise StressError("stress=distractor: the reference detectors find no face in the image drawn")
    side = -1 if job.rng().integers(0, 2) == 0 else 1
    return geometric.paste_face(job.image, job.face, donor, donor_landmarks, job.level, side)
