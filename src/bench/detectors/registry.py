"""Detector factories by name, in the manner of timm's ``register_model`` / ``create_model``.

Each method registers one entry: its factory ``(options, runtime) -> Detector``, the options
dataclass it takes (defined beside its code), where its faces come from and, per backend, the
assets and packages it needs, so that ``bench.api.list_available`` can tell what runs here
without building anything. Registration is explicit: a module (built-in or plugin) lists its
entries in ``register(registry)`` (``bench.plugins``); importing it registers nothing. Options
are bound by name against the dataclass before the factory runs: a misspelt option names
itself and the allowed ones, a wrong type or range fails the same way as on the command line.
Registering is light: every component is registered at start-up, before Hydra composes a
config, so an entry holds its options dataclass (a cheap import) and a factory that imports
its backend when called (``bench.registry.Lazy``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import OmegaConf

from bench.assets import ASSETS, resolve
from bench.config import FaceSource
from bench.detectors.base import Detector
from bench.registry import BUILTIN_SOURCE, NO_REQUIREMENTS, Registry, Requirements

if TYPE_CHECKING:
    from bench.runtime import Runtime  # imports torch: only create_detector needs it, at run time

#: The backend key of methods that have a single implementation (no ``backend`` option).
DEFAULT_BACKEND = "default"


#: A detector class or function ``(options, runtime) -> Detector``; a built-in registers a
#: ``bench.registry.Lazy`` naming it, so that registering imports none of its backend.
Factory = Callable[[Any, "Runtime"], Detector]


@dataclass(frozen=True)
class DetectorEntry:
    name: str
    #: ``None`` for a face source that looks at no pixels (``aligned``, ``given``).
    factory: Factory | None
    #: The options dataclass the factory receives: the schema its YAML is checked against.
    options: type
    #: Backend name -> what the method itself needs (a nested box detector adds its own);
    #: ``DEFAULT_BACKEND`` alone for single-backend methods.
    requirements: Mapping[str, Requirements]
    source: FaceSource = FaceSource.detected
    #: False for entries that are no method to rank (``reference``, the median of others; the
    #: face sources that detect nothing): sweeps of every method leave them out.
    compared: bool = True
    #: The option whose value picks the requirements: ``backend``, or a choice of weights (the
    #: BlazeFace ``model``) where that is what differs.
    variant_option: str = "backend"
    #: Whether a face's ``score`` is the method's confidence, a quality signal
    #: (``bench.quality``); False where it is a placeholder (a centre crop, the median of others).
    scored: bool = True

    @property
    def default_backend(self) -> str:
        """The backend (variant) the default options pick."""
        return str(getattr(self.options(), self.variant_option, DEFAULT_BACKEND))

    def _own_requirements(self, options: Any) -> Requirements:
        return self.requirements[str(getattr(options, self.variant_option, DEFAULT_BACKEND))]

    def requirements_for(self, options: Any) -> Requirements:
        """What ``options`` need: their backend's own, and those of every detector they nest."""
        own = self._own_requirements(options)
        nested = [detector_entry(name).requirements_for(bound) for name, bound in _nested_detectors(options)]
        return Requirements(
            tuple(dict.fromkeys(asset for part in (own, *nested) for asset in part.assets)),
            tuple(dict.fromkeys(package for part in (own, *nested) for package in part.packages)),
        )

    def backend_requirements(self) -> dict[str, Requirements]:
        """Per backend (variant), what the default options with that backend need."""
        defaults = self.options()
        return {
            backend: self.requirements_for(dataclasses.replace(defaults, **self.variant_overrides(backend)))
            for backend in self.requirements
        }

    def variant_overrides(self, backend: str) -> dict[str, str]:
        """The options that select ``backend`` (variant): none for a single-backend method."""
        return {} if backend == DEFAULT_BACKEND else {self.variant_option: backend}

    def weights(self, options: Any) -> list[Path]:
        """The weight files the factory loads for ``options``, found as it finds them but without
        loading anything: what a cached result depends on. ``path`` stands for the detector's own
        asset, or, when it has several (MTCNN's nets), for the folder holding their files; a nested
        detector adds its own weights."""
        own = self._own_requirements(options).assets
        explicit = getattr(options, "path", None)
        if explicit is None:
            found = [resolve(asset) for asset in own]
        elif len(own) == 1:
            found = [resolve(own[0], explicit)]
        else:
            folder = Path(explicit).expanduser()
            found = [resolve(asset, folder / Path(ASSETS[asset].relpath).name) for asset in own]
        for name, bound in _nested_detectors(options):
            found += detector_entry(name).weights(bound)
        return found


DETECTORS: Registry[DetectorEntry] = Registry("detector")


def by_backend(implementations: Mapping[str, Factory], option: str = "backend") -> Factory:
    """One factory for a method with several implementations: the one its ``option`` names."""

    def create(options: Any, runtime: Runtime) -> Detector:
        return implementations[getattr(options, option)](options, runtime)

    return create


def register_detector(
    name: str,
    factory: Factory | None,
    options: type,
    requires: Requirements | Mapping[str, Requirements] = NO_REQUIREMENTS,
    *,
    source: FaceSource = FaceSource.detected,
    compared: bool | None = None,
    variant_option: str = "backend",
    scored: bool = True,
    origin: str = BUILTIN_SOURCE,
) -> DetectorEntry:
    """Make ``factory`` creatable as ``name`` with the options dataclass ``options`` (its YAML in
    a ``detector`` config folder starts from ``/detector_<name>_schema``). ``requires`` maps each
    value of the option ``variant_option`` to what it needs; ``compared`` defaults to whether the
    entry detects; ``scored``: whether its faces' scores are its confidence; ``origin`` is the
    distribution registering it (``bench.plugins`` passes it)."""
    if (factory is None) is (source is FaceSource.detected):
        raise ValueError(f"detector {name!r}: a factory is needed exactly when its faces are detected")
    requirements = {DEFAULT_BACKEND: requires} if isinstance(requires, Requirements) else dict(requires)
    is_compared = source is FaceSource.detected if compared is None else compared
    entry = DetectorEntry(name, factory, options, requirements, source, is_compared, variant_option, scored)
    DETECTORS.add(name, entry, origin)
    return entry


def detector_entry(name: str) -> DetectorEntry:
    return DETECTORS.get(name)


def list_detectors() -> list[str]:
    return DETECTORS.names()


def detector_schemas() -> dict[str, tuple[type, FaceSource]]:
    """Detector name -> its options schema and face source: the ``detector`` config group's."""
    return {entry.name: (entry.options, entry.source) for entry in DETECTORS}


def _nested_detectors(options: Any) -> list[tuple[str, Any]]:
    """The detectors nested in ``options`` with their bound options: RTMPose's ``box_detector``,
    the mesh's BlazeFace (named by its options' type), the reference's ``methods`` (defaults)."""
    if hasattr(options, "box_detector_options"):
        nested = options.box_detector_options
        name = getattr(options, "box_detector", None) or _name_of(type(nested))
        return [(name, bind_options(name, nested))]
    return [(name, bind_options(name)) for name in getattr(options, "methods", ())]


def _name_of(schema: type) -> str:
    """The detector whose options are ``schema``; each registers a schema of its own."""
    (name,) = (entry.name for entry in DETECTORS if entry.options is schema)
    return name


def bind_options(name: str, options: Any = None, **overrides: Any) -> Any:
    """The options dataclass of detector ``name``: from an instance of it, a mapping or ``None``
    (the defaults), with ``overrides`` on top, converted and checked as Hydra would (an instance
    built by hand is checked too: ``YuNetOptions(backend="opencv")`` holds a plain string)."""
    schema = detector_entry(name).options
    given = dataclasses.asdict(options) if isinstance(options, schema) else dict(options or {})
    given.update(overrides)
    allowed = [item.name for item in dataclasses.fields(schema)]
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise ValueError(
            f"detector {name!r} has no option {', '.join(map(repr, unknown))}; "
            f"its options are {', '.join(allowed) or 'none'}"
        )
    return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(schema), given))


def create_detector(
    name: str, runtime: Runtime | None = None, options: Any = None, **overrides: Any
) -> Detector:
    """Build detector ``name`` on ``runtime`` (the CPU when ``None``) with its options."""
    entry = detector_entry(name)
    if entry.factory is None:
        raise ValueError(
            f"detector={name} looks at no pixels: its faces are {entry.source.value} "
            "(bench.pipeline.face_source), there is no detector to build"
        )
    bound = bind_options(name, options, **overrides)
    if runtime is None:
        from bench.runtime import Runtime

        runtime = Runtime.local()
    detector = entry.factory(bound, runtime)
    detector.name = name
    return detector
