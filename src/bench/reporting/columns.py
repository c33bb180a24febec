"""A report table's columns, declared once: the field each holds, its Markdown header and format.

The module that owns a table lists its columns in one tuple of :class:`Column`: the CSV (or the
table's frame) takes every key in that order, the Markdown the columns that have a header, so the
two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bench.reporting.formatting import text, with_spread


@dataclass(frozen=True)
class Column:
    """One column of a report table."""

    #: The field of a row it shows: its name in the CSV.
    key: str
    #: The Markdown header; None: the column is in the CSV only.
    header: str | None = None
    #: How the field's value reads in Markdown.
    format: Callable[[Any], str] = text
    #: Another field shown after the value, in the same format, as "± spread" (a std over folds).
    spread: str | None = None
    #: A metric the run logged, copied as it is (a finished run must have logged it).
    metric: bool = False
    #: Left-aligned in Markdown, as words are; numbers are right-aligned.
    left: bool = False

    def cell(self, row: Mapping[str, Any]) -> str:
        if self.spread is None:
            return self.format(row[self.key])
        return with_spread(row[self.key], row[self.spread], self.format)


def column_keys(columns: Iterable[Column]) -> tuple[str, ...]:
    return tuple(column.key for column in columns)


def metric_keys(columns: Iterable[Column]) -> tuple[str, ...]:
    """The logged metrics a table shows, in its column order."""
    return tuple(column.key for column in columns if column.metric)


def markdown_table(columns: Sequence[Column], rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """The header, alignment and one line per row of the columns that have a header; a ``|`` in
    a cell (a method's label) is escaped."""
    shown = [column for column in columns if column.header is not None]
    lines = [
        "| " + " | ".join(str(column.header) for column in shown) + " |",
        "|" + "|".join("---" if column.left else "--:" for column in shown) + "|",
    ]
    for row in rows:
        lines.append("| " + " | ".join(escaped(column.cell(row)) for column in shown) + " |")
    return lines


def escaped(cell: str) -> str:
    """Markdown text with its ``|`` escaped, so that it stays in its cell."""
    return cell.replace("|", "\\|")
