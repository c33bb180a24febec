"""``bench list``: every detector and recognition model registered here, built-in or from a
plugin, and whether it runs on this machine.

    bench list                  # a table
    bench list --format json    # [{"kind", "name", "backend", "available", "reason", "source"}]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from bench.api import Availability, list_available
from bench.plugins import load_plugins

#: The keys of ``--format json``'s objects, in order.
JSON_KEYS = ("kind", "name", "backend", "available", "reason", "source")


def as_json(rows: Sequence[Availability]) -> str:
    return json.dumps([{key: getattr(row, key) for key in JSON_KEYS} for row in rows], indent=2)


def as_table(rows: Sequence[Availability]) -> Table:
    table = Table("kind", "name", "backend", "runs here", "source", "why not", title="bench list")
    for row in rows:
        table.add_row(
            row.kind, row.name, row.backend, "yes" if row.available else "no", row.source, row.reason
        )
    return table


def main(argv: Sequence[str] = ()) -> None:
    parser = argparse.ArgumentParser(prog="bench list", description=__doc__.split("\n\n")[0])
    parser.add_argument("--format", choices=("table", "json"), default="table")
    args = parser.parse_args(list(argv))
    rows = list_available()
    for failure in load_plugins().failures:
        print(f"bench list: {failure}", file=sys.stderr)
    if args.format == "json":
        print(as_json(rows))
    else:
        Console().print(as_table(rows))
