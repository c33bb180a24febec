"""Range checks in the schemas' ``__post_init__``: types are checked when Hydra composes the
config, values when it becomes typed objects, before any model loads."""

from __future__ import annotations

from typing import Any


class ConfigValueError(ValueError):
    """A config value of the right type but outside what the option allows."""


def require(condition: bool, key: str, rule: str, value: Any) -> None:
    """Raise, naming ``key``, the rule and the value given, unless ``condition`` holds."""
    if not condition:
        raise ConfigValueError(f"{key} {rule}, got {value!r}")
