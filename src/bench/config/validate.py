"""Range checks in the schemas' ``__post_init__``: types are checked when Hydra composes the
config, values when it becomes typed objects, before any model loads."""

from __future__ import annotations

import re
from typing import Any

#: An integer as our files and options write it: Python's ``int()`` also reads other scripts'
#: digits ("٣" is 3), spaces and underscores, which none of them means.
_ASCII_INTEGER = re.compile(r"[+-]?[0-9]+")


class ConfigValueError(ValueError):
    """A config value of the right type but outside what the option allows."""


def is_ascii_integer(text: str) -> bool:
    """Whether ``text`` is an integer in ASCII digits, with an optional sign."""
    return _ASCII_INTEGER.fullmatch(text) is not None


def require(condition: bool, key: str, rule: str, value: Any) -> None:
    """Raise, naming ``key``, the rule and the value given, unless ``condition`` holds."""
    if not condition:
        raise ConfigValueError(f"{key} {rule}, got {value!r}")
