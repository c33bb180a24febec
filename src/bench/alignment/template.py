"""Alignment templates: where each named point lands in the crop a recognition model was trained
on, one registry entry per template (``model.template`` names one; a family declares its own).

* ``arcface_112``: insightface's ``arcface_dst``, the five points of every ArcFace-style model.
* ``dlib_chip_150``: dlib's face chip (``get_face_chip(image, shape, 150, 0.25)``), expressed in
  the named points from dlib's own mean face (``get_face_chip_details`` in
  ``dlib/image_transforms/interpolation.h``): the eye centres and nose base from its 5-point
  constants (the eye centre is the mean of an eye's two corners), the nose tip and mouth corners
  from its 68-point mean face.

A template holds every named point, so any method's subset can be fitted to it: the points a
template's source does not give (the mouth centre; the nose base on ArcFace's) are derived by
the similarity that best maps dlib's mean face onto it, never guessed.

Light on purpose (numpy only): every family registers its native template's name at start-up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.alignment.similarity import apply_similarity, fit_similarity
from bench.detectors.base import FIVE_POINTS, POINT_NAMES
from bench.registry import BUILTIN_SOURCE, Registry

Point = tuple[float, float]


@dataclass(frozen=True)
class Template:
    """Named points in a ``size`` x ``size`` crop; a crop of another size scales them."""

    name: str
    size: int
    points: Mapping[str, Point]

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ValueError(f"template {self.name!r}: size must be at least 1, got {self.size}")
        unknown = sorted(set(self.points) - set(POINT_NAMES))
        if unknown:
            raise ValueError(f"template {self.name!r}: unknown points {unknown}; named points: {POINT_NAMES}")
        if len(self.points) < 2:
            raise ValueError(f"template {self.name!r}: at least two points are needed to align on it")

    def points_for(self, names: tuple[str, ...], size: int | None = None) -> np.ndarray:
        """The named points' coordinates, ``(K, 2)``, scaled to a ``size`` x ``size`` crop."""
        missing = [name for name in names if name not in self.points]
        if missing:
            raise KeyError(f"template {self.name!r} has no point {missing}; it has {sorted(self.points)}")
        points = np.array([self.points[name] for name in names], dtype=np.float64)
        return points * ((size or self.size) / self.size)

    def key(self) -> dict[str, Any]:
        """What a crop depends on: the points and frame, not the name (the cache keys on it)."""
        return {"size": self.size, "points": {name: list(xy) for name, xy in sorted(self.points.items())}}


TEMPLATES: Registry[Template] = Registry("alignment template")


def register_template(template: Template, origin: str = BUILTIN_SOURCE) -> None:
    TEMPLATES.add(template.name, template, origin)


def template_named(name: str) -> Template:
    return TEMPLATES.get(name)


def _with_derived(points: dict[str, Point], source: Mapping[str, Point]) -> dict[str, Point]:
    """``points`` plus every point of ``source`` it lacks, mapped by the similarity that takes
    ``source`` onto ``points`` over the points both have."""
    shared = tuple(name for name in source if name in points)
    matrix = fit_similarity(
        np.array([source[name] for name in shared]), np.array([points[name] for name in shared])
    )
    extra = tuple(name for name in source if name not in points)
    mapped = apply_similarity(matrix, np.array([source[name] for name in extra]))
    return {**points, **{name: (float(x), float(y)) for name, (x, y) in zip(extra, mapped, strict=True)}}


def _midpoint(a: Point, b: Point) -> Point:
    return ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)


# dlib's mean face in the unit square: the 5-point predictor's constants (eye corners, nose
# base) and, for the points it does not give, the 68-point mean face (indices 30, 48, 54).
_DLIB_RIGHT_EYE_CORNERS = ((0.8595674595992, 0.2134981538014), (0.6460604764104, 0.2289674387677))
_DLIB_LEFT_EYE_CORNERS = ((0.1205750620789, 0.2137274526848), (0.3340850613712, 0.2290642403242))
_DLIB_MEAN_FACE: dict[str, Point] = {
    "left_eye": _midpoint(*_DLIB_LEFT_EYE_CORNERS),
    "right_eye": _midpoint(*_DLIB_RIGHT_EYE_CORNERS),
    "nose": (0.490127, 0.515625),
    "nose_base": (0.4901123135679, 0.6277975316475),
    "left_mouth": (0.254149, 0.780233),
    "right_mouth": (0.726104, 0.780233),
}
_DLIB_MEAN_FACE["mouth_center"] = _midpoint(_DLIB_MEAN_FACE["left_mouth"], _DLIB_MEAN_FACE["right_mouth"])


def dlib_chip(size: int = 150, padding: float = 0.25) -> Template:
    """dlib's chip of ``size`` pixels with ``padding`` (its face recognition model: 150, 0.25).

    dlib places the mean face at ``(x + padding) / (1 + 2 padding) * size`` in a frame whose
    extent ``[0, size]`` it maps onto the pixel centres ``0 .. size - 1`` (``chip_details``'
    rectangle, ``centered_drect``, is one pixel narrower than the chip): in pixel coordinates,
    as the aligner has them, each point sits half a pixel up and left (to within size/(size-1)).
    """
    scale = size / (1 + 2 * padding)
    points = {
        name: ((x + padding) * scale - 0.5, (y + padding) * scale - 0.5)
        for name, (x, y) in _DLIB_MEAN_FACE.items()
    }
    return Template(f"dlib_chip_{size}", size, points)


_ARCFACE_POINTS: dict[str, Point] = dict(
    zip(
        FIVE_POINTS,
        (
            (38.2946, 51.6963),
            (73.5318, 51.5014),
            (56.0252, 71.7366),
            (41.5493, 92.3655),
            (70.7299, 92.2041),
        ),
        strict=True,
    )
)
# BlazeFace gives the mouth centre: the corners' midpoint. dlib's predictor gives the nose base.
_ARCFACE_POINTS["mouth_center"] = _midpoint(_ARCFACE_POINTS["left_mouth"], _ARCFACE_POINTS["right_mouth"])
ARCFACE_112 = Template("arcface_112", 112, _with_derived(_ARCFACE_POINTS, _DLIB_MEAN_FACE))
DLIB_CHIP_150 = dlib_chip(150, 0.25)

register_template(ARCFACE_112)
register_template(DLIB_CHIP_150)

#: The ArcFace template's size and points, the default crop of the aligner.
ALIGNED_SIZE = ARCFACE_112.size
ARCFACE_TEMPLATE: Mapping[str, Point] = ARCFACE_112.points


def template_points(names: tuple[str, ...], size: int = ALIGNED_SIZE) -> np.ndarray:
    """The ArcFace template's named points scaled to a ``size`` x ``size`` crop."""
    return ARCFACE_112.points_for(names, size)


def template_from_points(points: Mapping[str, Any], size: int, name: str = "custom") -> Template:
    """A template given as YAML: ``{size: S, points: {left_eye: [x, y], ...}}``."""
    parsed: dict[str, Point] = {}
    for point, xy in points.items():
        values = list(xy)
        if len(values) != 2 or not all(np.isfinite(float(v)) for v in values):
            raise ValueError(f"template point {point!r} must be [x, y] with finite numbers, got {xy!r}")
        parsed[str(point)] = (float(values[0]), float(values[1]))
    return Template(name, int(size), parsed)
