"""Every stress condition's spec, in one table: its kind, its levels, what it needs and the
function that applies it.

``Stress`` dispatches through this table alone: a condition without a spec fails by name, never
becomes another condition. The kind is declared on ``StressCondition`` itself, where the
configuration (which cannot import this package) checks ``stress.levels`` by it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from bench.config import StressCondition, StressKind
from bench.stress import geometric, photometric
from bench.stress.degradation import Degradation
from bench.stress.distractor import paste_distractor
from bench.stress.geometric import Transformed

#: A condition's function: the image degraded, and the affine map it applied.
Apply = Callable[[Degradation], Transformed]


@dataclass(frozen=True)
class ConditionSpec:
    """All that is particular to one condition; ``Stress`` does the rest alike for every one."""

    condition: StressCondition
    apply: Apply
    #: The strength at severities 1..5 that ``stress=<name>`` sets (``conf/stress/<name>.yaml``, kept
    #: equal by a test; ``stress.levels`` overrides it); ``None``: the corruption library's own.
    default_levels: tuple[float, ...] | None = None
    #: Takes another person's face from the run's images (``FaceDonors``).
    needs_donors: bool = False

    @property
    def kind(self) -> StressKind:
        return self.condition.kind

    @property
    def needs_reference_landmarks(self) -> bool:
        return self.kind is StressKind.placed_by_the_face


def _unchanged(job: Degradation) -> Transformed:
    return job.image, np.eye(2, 3)


def _corruption(job: Degradation) -> Transformed:
    """The ImageNet-C corruption of the condition's name, at the library's own severity."""
    seed = int(job.seeds.generate_state(1)[0])
    return photometric.corrupt(job.image, job.condition.value, job.severity, seed), np.eye(2, 3)


def _rotation(job: Degradation) -> Transformed:
    """Turned by the level in degrees, either way by the image's seed."""
    degrees = job.level if job.rng().integers(0, 2) == 0 else -job.level
    return geometric.rotate(job.image, degrees)


def _small_face(job: Degradation) -> Transformed:
    return geometric.small_off_centre(job.image, job.level, job.rng())


def _downscale(job: Degradation) -> Transformed:
    return geometric.resize(job.image, job.level)


def _occlusion(job: Degradation) -> Transformed:
    return geometric.occlude(job.image, job.level, job.rng())


def _resolution(job: Degradation) -> Transformed:
    return geometric.to_inter_ocular(job.image, job.face, job.level)


def _eye_band(job: Degradation) -> Transformed:
    return geometric.eye_band(job.image, job.face, job.level)


def _lower_face(job: Degradation) -> Transformed:
    return geometric.lower_face(job.image, job.face, job.level)


def _photometric(condition: StressCondition) -> ConditionSpec:
    return ConditionSpec(condition, _corruption)


SPECS: tuple[ConditionSpec, ...] = (
    ConditionSpec(StressCondition.none, _unchanged),
    _photometric(StressCondition.gaussian_noise),
    _photometric(StressCondition.shot_noise),
    _photometric(StressCondition.impulse_noise),
    _photometric(StressCondition.speckle_noise),
    _photometric(StressCondition.defocus_blur),
    _photometric(StressCondition.glass_blur),
    _photometric(StressCondition.motion_blur),
    _photometric(StressCondition.zoom_blur),
    _photometric(StressCondition.gaussian_blur),
    _photometric(StressCondition.snow),
    _photometric(StressCondition.frost),
    _photometric(StressCondition.fog),
    _photometric(StressCondition.spatter),
    _photometric(StressCondition.brightness),
    _photometric(StressCondition.contrast),
    _photometric(StressCondition.saturate),
    _photometric(StressCondition.elastic_transform),
    _photometric(StressCondition.pixelate),
    _photometric(StressCondition.jpeg_compression),
    # Degrees, in-plane about the image's centre.
    ConditionSpec(StressCondition.rotation, _rotation, (15.0, 30.0, 45.0, 60.0, 90.0)),
    # The image's scale, placed near a random corner of a black canvas twice its size.
    ConditionSpec(StressCondition.small_face, _small_face, (0.8, 0.6, 0.45, 0.3, 0.2)),
    # The image's scale, detected at that size.
    ConditionSpec(StressCondition.downscale, _downscale, (0.6, 0.4, 0.25, 0.16, 0.1)),
    # A black square's side over the image's shorter side, anywhere in the image.
    ConditionSpec(StressCondition.occlusion, _occlusion, (0.2, 0.3, 0.4, 0.5, 0.6)),
    # The inter-ocular distance in pixels that the image is shrunk to.
    ConditionSpec(StressCondition.resolution, _resolution, (40.0, 24.0, 16.0, 12.0, 8.0)),
    # A black band's height over the inter-ocular distance, along the eye line.
    ConditionSpec(StressCondition.eye_band, _eye_band, (0.25, 0.4, 0.55, 0.7, 0.85)),
    # The share of the eyes-to-mouth distance blacked out, from the mouth up.
    ConditionSpec(StressCondition.lower_face, _lower_face, (0.2, 0.4, 0.6, 0.8, 1.0)),
    # Another person's face beside this one: its inter-ocular distance over this one's.
    ConditionSpec(StressCondition.distractor, paste_distractor, (0.6, 0.8, 1.0, 1.2, 1.5), needs_donors=True),
)

_BY_CONDITION = {spec.condition: spec for spec in SPECS}


def spec_of(condition: StressCondition) -> ConditionSpec:
    """``condition``'s spec; one without a spec is an error here, never another condition."""
    spec = _BY_CONDITION.get(condition)
    if spec is None:
        raise LookupError(f"stress={condition.value} has no spec in bench.stress.specs.SPECS")
    return spec
