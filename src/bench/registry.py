"""Named components of one kind (detectors, recognition families), each with who registered it.

One generic table in the manner of detectron2's ``Registry``: ``bench`` registers its built-ins
and every installed plugin its own (``bench.plugins``), so a name says where it came from and two
packages cannot silently take the same name.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

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
