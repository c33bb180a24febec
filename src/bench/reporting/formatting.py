"""How a report writes a number: percent, fixed digits, p-values, and one text for a missing value.

Every table (Markdown, console) formats its cells here, so that a value that is missing or could
not be measured (NaN, a failed run's empty cell) reads the same in all of them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

#: A value that is missing or could not be measured.
MISSING = "-"


def is_missing(value: object) -> bool:
    """None, NaN or pandas' NA."""
    return bool(pd.api.types.is_scalar(value) and pd.isna(value))


def text(value: object) -> str:
    return MISSING if is_missing(value) else str(value)


def integer(value: float) -> str:
    return MISSING if is_missing(value) else str(int(value))


def fixed(value: float, digits: int) -> str:
    return MISSING if is_missing(value) else f"{value:.{digits}f}"


def percent(value: float, digits: int = 2, signed: bool = False) -> str:
    """A fraction in percent, for a cell whose header says %; ``signed`` for differences."""
    return MISSING if is_missing(value) else f"{100 * value:{'+' if signed else ''}.{digits}f}"


def percent_with_unit(value: float, digits: int = 2) -> str:
    """A fraction in percent, " %" after it, for a cell whose header does not say %."""
    return MISSING if is_missing(value) else f"{percent(value, digits)} %"


def with_spread(
    value: float, spread: float, format: Callable[[Any], str] = percent, plus_minus: str = "±"
) -> str:
    """A mean and its spread in one format, ``value ± spread``; the value alone without a spread."""
    if is_missing(value) or is_missing(spread):
        return format(value)
    return f"{format(value)} {plus_minus} {format(spread)}"


def p_value(value: float) -> str:
    if is_missing(value):
        return MISSING
    return "< 0.0001" if value < 1e-4 else f"{value:.4f}"


def yes_no(value: bool) -> str:
    return "yes" if value else "no"
