"""How integer options were written on the command line.

OmegaConf turns any string that Python's ``int()`` reads into an integer option's value, and
``int()`` reads every Unicode digit, spaces and underscores: a quoted ``'٣'`` (an Arabic-Indic three)
silently becomes fold 3. Hydra's grammar already limits an unquoted integer to ASCII digits; a
string given for an integer option is held to the same rule here. The composed config cannot tell
(its value is already 3), so the overrides are parsed again, with Hydra's own parser.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, ListConfig, OmegaConf

from bench.config.validate import ConfigValueError, is_ascii_integer


def check_integer_overrides(cfg: DictConfig, overrides: Sequence[str]) -> None:
    """Raise ``ConfigValueError`` for a string given to an integer option of ``cfg`` (composed with
    ``overrides``) that is not an integer in ASCII digits. Interpolations (``${...}``) are left to
    OmegaConf: their text is not the value."""
    for override in OverridesParser.create().parse_overrides(list(overrides)):
        if override.is_delete() or override.is_sweep_override() or override.package is not None:
            continue
        key = override.key_or_group
        # A value that does not resolve is left for the typed config to report, as before.
        composed = OmegaConf.select(cfg, key, default=None, throw_on_resolution_failure=False)
        found = next(_strings_given_to_integers(key, override.value(), composed), None)
        if found is not None:
            option, written = found
            raise ConfigValueError(
                f"{option} takes integers in ASCII digits 0-9 only, got {written!r} "
                f"(in {override.input_line}); write {int(written)} if that is what you meant"
            )


def _strings_given_to_integers(key: str, written: Any, composed: Any) -> Iterator[tuple[str, str]]:
    """Each option and string in ``written`` that OmegaConf converted to an integer without its
    being one in ASCII digits; lists and mappings are followed element by element."""
    if isinstance(written, str):
        is_integer = isinstance(composed, int) and not isinstance(composed, bool)
        if is_integer and "${" not in written and not is_ascii_integer(written):
            yield key, written
    elif isinstance(written, list) and isinstance(composed, ListConfig) and len(written) == len(composed):
        for item, value in zip(written, composed, strict=True):
            yield from _strings_given_to_integers(key, item, value)
    elif isinstance(written, dict) and isinstance(composed, DictConfig):
        for name, item in written.items():
            yield from _strings_given_to_integers(f"{key}.{name}", item, composed.get(name))
