"""Every CSV file the project writes, and reads back, defused against CSV injection.

File names, labels and error messages end up in cells, and a spreadsheet runs a text cell that
starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return as a formula
(``=cmd|' -C calc'!A0``). As OWASP recommends, such a cell gets a leading single quote, which a
spreadsheet shows as text and hides, and every text cell is quoted, so that no separator inside a
name splits it into a new cell. Numbers are written bare and stay numbers (a score of -0.25 is no
formula): only ``str`` cells are touched, so writers pass numbers as numbers, not formatted.

A text cell that already starts with a quote gets one more, so :func:`read_table` can take exactly
one off and give back every cell as it was written.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

#: What a spreadsheet takes a text cell for a formula by (OWASP's list), and the quote that defuses one.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
DEFUSING_QUOTE = "'"


def defuse(cell: object) -> object:
    """``cell`` as a spreadsheet shows it as text: a quote before a text cell that would be a
    formula (or that starts with the quote itself); numbers and empty cells unchanged."""
    if isinstance(cell, str) and cell.startswith((*FORMULA_STARTS, DEFUSING_QUOTE)):
        return DEFUSING_QUOTE + cell
    return cell


def restore(cell: object) -> object:
    """The cell :func:`defuse` was given."""
    if isinstance(cell, str) and cell.startswith(DEFUSING_QUOTE):
        return cell[1:]
    return cell


def write_rows(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> Path:
    """``header``, then ``rows``, defused, to ``path``."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_NONNUMERIC)
        writer.writerow([defuse(name) for name in header])
        writer.writerows([defuse(cell) for cell in row] for row in rows)
    return path


def write_table(table: pd.DataFrame, path: Path) -> Path:
    """``table``, without its index, defused, to ``path``."""
    defused = table.rename(columns=defuse)
    for column in _text_columns(defused):
        defused[column] = defused[column].map(defuse)
    defused.to_csv(path, index=False, quoting=csv.QUOTE_NONNUMERIC)
    return path


def read_table(path: Path) -> pd.DataFrame:
    """A CSV file that :func:`write_rows` or :func:`write_table` wrote, each text cell restored."""
    table = pd.read_csv(path).rename(columns=restore)
    for column in _text_columns(table):
        table[column] = table[column].map(restore)
    return table


def _text_columns(table: pd.DataFrame) -> list[str]:
    return [name for name, dtype in table.dtypes.items() if not pd.api.types.is_numeric_dtype(dtype)]
