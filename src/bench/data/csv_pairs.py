"""A generic verification protocol: a CSV file of image pairs under one image folder."""

from __future__ import annotations

import csv
import posixpath
from collections import Counter
from pathlib import Path

from bench.data.pairs import Pair, ProtocolError, check_distinct, check_path_characters

COLUMNS = ("path_a", "path_b", "label")
FOLD = "fold"
#: The largest fold number: folds are scored as int64.
MAX_FOLD = 2**63 - 1
_HEADER_HELP = f"the first line must be the header {','.join(COLUMNS)} (optionally ,{FOLD}, any order)"


def parse_csv_pairs(path: Path, num_folds: int) -> list[Pair]:
    """Parse ``path_a,path_b,label[,fold]``: paths relative to the image folder (``/``-separated),
    label 1 for the same person and 0 for different people, fold a non-negative integer.

    Without a ``fold`` column the pairs are dealt round-robin in file order within each label:
    the k-th same-person pair goes to fold ``k % num_folds``, and so does the k-th
    different-people pair. Every fold then holds both labels (when each label has at least
    ``num_folds`` pairs), and the folds depend on the file alone, not on a seed or a hash.
    """
    if not isinstance(num_folds, int) or num_folds < 1:
        raise ValueError(f"dataset.num_folds must be an integer >= 1, got {num_folds!r}")
    with path.open(newline="", encoding="utf-8-sig") as file:  # -sig: a spreadsheet's BOM
        reader = csv.reader(file, strict=True)
        try:
            header = next(reader, None)
            if header is None:
                raise ProtocolError(f"{path}: empty pairs file: {_HEADER_HELP}")
            columns = _columns(path, header)
            rows = [(reader.line_num, row) for row in reader if any(field.strip() for field in row)]
        except csv.Error as error:
            raise ProtocolError(f"{path}:{reader.line_num}: not valid CSV: {error}") from None
        except UnicodeDecodeError:
            raise ProtocolError(f"{path}: not a UTF-8 text file") from None
    if not rows:
        raise ProtocolError(f"{path}: no pairs after the header")
    dealt: Counter[bool] = Counter()
    pairs = []
    for line, row in rows:
        if len(row) != len(columns):
            raise ProtocolError(
                f"{path}:{line}: expected {len(columns)} fields ({','.join(columns)}), "
                f"got {len(row)}: {','.join(row)!r}"
            )
        fields = dict(zip(columns, (field.strip() for field in row), strict=True))
        same = _label(path, line, fields["label"])
        if FOLD in fields:
            fold = _fold(path, line, fields[FOLD])
        else:
            fold = dealt[same] % num_folds
            dealt[same] += 1
        image_a, image_b = (_image(path, line, column, fields[column]) for column in ("path_a", "path_b"))
        pairs.append(Pair(image_a, image_b, same, fold, line))
    check_distinct(path, pairs)
    return pairs


def dealt_fold_advice(pairs: list[Pair], num_folds: int) -> str:
    """The dealing rule, for a fold lacking a label: dealing each label round-robin gives every
    fold both labels when the rarer label has at least ``num_folds`` pairs."""
    rarer = min(Counter(pair.same for pair in pairs).values())
    return (
        f" (a CSV without a {FOLD} column deals each label into dataset.num_folds, now {num_folds}, "
        f"folds: every fold gets both labels when the rarer label, here {rarer} pair(s), has at least "
        "that many)"
    )


def _columns(path: Path, header: list[str]) -> list[str]:
    columns = [name.strip() for name in header]
    allowed = {*COLUMNS, FOLD}
    if not set(COLUMNS) <= set(columns) or not set(columns) <= allowed or len(set(columns)) != len(columns):
        raise ProtocolError(f"{path}:1: {_HEADER_HELP}; got {','.join(header)!r}")
    return columns


def _label(path: Path, line: int, value: str) -> bool:
    if value not in ("0", "1"):
        raise ProtocolError(
            f"{path}:{line}: label must be 1 (same person) or 0 (different people), got {value!r}"
        )
    return value == "1"


def _fold(path: Path, line: int, value: str) -> int:
    try:
        fold = int(value)
    except ValueError:
        fold = -1
    if fold < 0:
        raise ProtocolError(f"{path}:{line}: fold must be a non-negative integer, got {value!r}")
    # int() also reads other scripts' digits ("٣" is 3), and the folds are scored as an int64
    # array: a larger number would fail only once every image has been processed.
    if not (value.isascii() and value.isdigit()):
        raise ProtocolError(f"{path}:{line}: fold must be written in ASCII digits 0-9, got {value!r}")
    if fold > MAX_FOLD:
        raise ProtocolError(f"{path}:{line}: fold must be at most {MAX_FOLD}, got {value!r}")
    return fold


def _image(path: Path, line: int, column: str, value: str) -> str:
    """The image path, normalised (``a/./b.jpg`` is ``a/b.jpg``) so duplicates are found."""
    check_path_characters(path, line, column, value)
    normal = posixpath.normpath(value) if value else ""
    if not normal or normal.startswith(("/", "../")) or normal in (".", ".."):
        raise ProtocolError(
            f"{path}:{line}: {column} must be a file path relative to dataset.root, got {value!r}"
        )
    return normal
