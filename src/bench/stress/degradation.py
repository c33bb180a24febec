"""What a condition's function is given (``bench.stress.specs``), and the error for an image it
cannot degrade."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from bench.config import StressCondition

if TYPE_CHECKING:
    from bench.stress.distractor import Donor


class StressError(ValueError):
    """An image the condition cannot degrade (e.g. too small for the corruption library)."""


@dataclass(frozen=True)
class Degradation:
    """One image to degrade, with everything a condition's function may draw on."""

    image: np.ndarray
    condition: StressCondition
    severity: int
    #: ``stress.levels``: the strength per severity, for the conditions that take levels.
    levels: Sequence[float] | None
    #: The run's seed and the image's content digest: every random choice is drawn from them.
    seeds: np.random.SeedSequence
    #: The face's five reference points, given to the conditions placed by the face.
    landmarks: np.ndarray | None = None
    #: The other person's image ``distractor`` pastes a face from, drawn for this image.
    donor: Donor | None = None

    @property
    def level(self) -> float:
        """The strength at this severity."""
        if self.levels is None:
            raise ValueError(f"stress={self.condition.value} takes levels, and was given none")
        return self.levels[self.severity - 1]

    @property
    def face(self) -> np.ndarray:
        """The five reference points; a condition whose spec does not ask for them has none."""
        if self.landmarks is None:
            raise ValueError(f"stress={self.condition.value} was given no reference landmarks")
        return self.landmarks

    def rng(self) -> np.random.Generator:
        """The image's random generator, afresh: the same draws on every call."""
        return np.random.default_rng(self.seeds)
