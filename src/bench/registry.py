"""Named components of one kind (detectors, recognition families), each with who registered it.

One generic table in the manner of detectron2's ``Registry``: ``bench`` registers its built-ins
and every installed plugin its own (``bench.plugins``), so a name says where it came from and two
packages cannot silently take the same name. Every component is registered at start-up, so what
it registers names its backend without importing it (``Lazy``).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

Item = TypeVar("Item")

#: The ``source`` of everything the package itself registers.
BUILTIN_SOURCE = "bench"


@dataclass(frozen=True)
class Requirements:
    """What a component (or one backend of it) needs: asset names (``bench.assets``) and
    importable packages; ``bench list`` tells from these whether it runs here."""

    assets: tuple[str, ...] = ()
    packages: tuple[str, ...] = ()


#: What a component that needs nothing beyond ``bench`` itself requires.
NO_REQUIREMENTS = Requirements()


@dataclass(frozen=True)
class Lazy:
    """A callable named ``"package.module:attribute"``, imported when it is first called.

    What a component registers as its factory (or as a recognition family's ``create``,
    ``precision``...), so that registering it imports none of its backend (torch, ONNX Runtime,
    MediaPipe...): ``bench`` registers every component before Hydra composes a config, and
    only the one a run uses should cost its imports.
    """

    target: str

    def __post_init__(self) -> None:
        module, _, attribute = self.target.partition(":")
        if not module or not attribute:
            raise ValueError(f"Lazy target {self.target!r} is not of the form 'package.module:attribute'")

    def resolve(self) -> Any:
        """The object named, importing its module (once: ``import`` caches it)."""
        module, _, attribute = self.target.partition(":")
        return getattr(importlib.import_module(module), attribute)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.resolve()(*args, **kwargs)


def lazy_attributes(module: str, targets: Mapping[str, str]) -> Callable[[str], Any]:
    """A module's ``__getattr__`` (PEP 562) giving each name of ``targets`` (name ->
    ``"package.module:attribute"``) on first use: a package that registers a component
    re-exports its backend's classes without importing them when it is imported."""

    def __getattr__(name: str) -> Any:
        if name not in targets:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        value = Lazy(targets[name]).resolve()
        setattr(sys.modules[module], name, value)  # later lookups skip this function
        return value

    return __getattr__


class Registry(Generic[Item]):
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, tuple[Item, str]] = {}

    def add(self, name: str, item: Item, source: str = BUILTIN_SOURCE) -> None:
        """Register ``item`` as ``name``; a name taken by another component is refused."""
        if name in self._items:
            raise ValueError(
                f"{self.kind} {name!r} is already registered by {self._items[name][1]}; "
                f"{source} cannot register it again"
            )
        self._items[name] = (item, source)

    def get(self, name: str) -> Item:
        try:
            return self._items[name][0]
        except KeyError:
            known = ", ".join(self.names()) or "none (no component is loaded: see bench.plugins.load_plugins)"
            raise KeyError(f"unknown {self.kind} {name!r}; registered: {known}") from None

    def source(self, name: str) -> str:
        """The distribution that registered ``name`` (``bench`` for a built-in)."""
        self.get(name)
        return self._items[name][1]

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[Item]:
        return iter(item for item, _ in self._items.values())
