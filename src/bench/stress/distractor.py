"""Distractor faces: another person's face from the run's own images, for ``stress=distractor``.

A person is an image's folder (LFW keeps one folder per person); in a flat folder every image is
its own person. The distractor is drawn from the images of other people, by the image's seed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench.cache import bytes_digest
from bench.data import decode_image_bytes, read_image_bytes
from bench.stress import geometric
from bench.stress.degradation import Degradation, StressError
from bench.stress.faces import REFERENCE_FACES


def person(path: str) -> str:
    """The person an image shows: its folder, or the image itself when it has none."""
    return path.rsplit("/", 1)[0] if "/" in path else path


@dataclass(frozen=True)
class FaceDonors:
    """The images a distractor face can come from: the data set's, read as the run reads them."""

    root: Path
    paths: tuple[str, ...]
    max_pixels: int
    #: What the choice of donor depends on, for cache keys: the sorted list of images.
    fingerprint: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "paths", tuple(sorted(set(self.paths))))
        text = "\n".join(self.paths).encode()
        object.__setattr__(self, "fingerprint", hashlib.blake2b(text, digest_size=16).hexdigest())

    def draw(self, path: str, rng: np.random.Generator) -> tuple[str, np.ndarray, str] | None:
        """Another person's image for ``path``: its name, pixels and content digest; ``None``
        when every image shows the same person."""
        others = [other for other in self.paths if person(other) != person(path)]
        if not others:
            return None
        chosen = others[int(rng.integers(len(others)))]
        data = read_image_bytes(self.root / chosen, self.root)
        return chosen, decode_image_bytes(data, self.root / chosen, self.max_pixels), bytes_digest(data)


def paste_distractor(job: Degradation) -> geometric.Transformed:
    """Another person's face, drawn from the run's images by the image's seed, pasted beside this
    one on a random side, its eyes ``job.level`` times this face's inter-ocular distance apart."""
    if job.donors is None or job.path is None:
        raise StressError("stress=distractor needs the run's images to take another person's face from")
    rng = job.rng()
    drawn = job.donors.draw(job.path, rng)
    if drawn is None:
        raise StressError(f"stress=distractor: every image of the data set shows the person of {job.path}")
    donor_path, donor, donor_digest = drawn
    donor_landmarks = REFERENCE_FACES.landmarks(donor, donor_digest)
    if donor_landmarks is None:
        raise StressError(f"stress=distractor: the reference detectors find no face in {donor_path}")
    side = -1 if rng.integers(0, 2) == 0 else 1
    return geometric.paste_face(job.image, job.face, donor, donor_landmarks, job.level, side)
