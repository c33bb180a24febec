"""Verification pairs, the LFW ``pairs.txt`` protocol file, and the checks every protocol shares."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

#: How many offending lines an error lists before it just counts the rest.
LISTED = 20
#: Each label as error messages name it.
KINDS = {True: "same-person pairs (label 1)", False: "different-people pairs (label 0)"}


class ProtocolError(ValueError):
    """A pairs file that does not follow its format; the message names file and line."""


@dataclass(frozen=True)
class Pair:
    """Two images (paths relative to the data set's image folder), same person or not."""

    image_a: str
    image_b: str
    same: bool
    fold: int
    #: The protocol file's line naming the pair, for error messages; not part of its identity.
    line: int = field(default=0, compare=False)


def lfw_image_path(name: str, number: int) -> str:
    return f"{name}/{name}_{number:04d}.jpg"


def parse_lfw_pairs(path: Path) -> list[Pair]:
    """Parse LFW's ``pairs.txt`` (View 2) or ``pairsDevTrain/Test.txt`` (View 1).

    Header ``FOLDS<TAB>N`` (View 1: just ``N``, one fold), then per fold ``N`` same-person lines
    ``NAME n1 n2`` followed by ``N`` different-people lines ``NAME1 n1 NAME2 n2``. Folds are
    numbered from 0 in file order.
    """
    lines = path.read_text().splitlines()
    if not lines:
        raise ProtocolError(f"{path}: empty pairs file")
    header = lines[0].split()
    try:
        counts = [int(field) for field in header]
    except ValueError:
        raise ProtocolError(
            f"{path}:1: header must be 'FOLDS<TAB>PAIRS' integers, got {lines[0]!r}"
        ) from None
    if len(counts) == 2:
        num_folds, per_class = counts
    elif len(counts) == 1:
        num_folds, per_class = 1, counts[0]
    else:
        raise ProtocolError(f"{path}:1: header must be 'FOLDS<TAB>PAIRS', got {lines[0]!r}")

    body = [(number, line) for number, line in enumerate(lines[1:], start=2) if line.strip()]
    expected = num_folds * 2 * per_class
    if len(body) != expected:
        raise ProtocolError(
            f"{path}: header promises {num_folds} folds x {2 * per_class} pairs = {expected} lines, "
            f"found {len(body)}"
        )
    pairs = []
    for index, (number, line) in enumerate(body):
        fold, position = divmod(index, 2 * per_class)
        pairs.append(_parse_pair_line(path, number, line, fold, same=position < per_class))
    check_distinct(path, pairs)
    return pairs


def _parse_pair_line(path: Path, number: int, line: str, fold: int, same: bool) -> Pair:
    fields = line.split()
    try:
        if len(fields) == 3:
            name, first, second = fields
            pair = Pair(
                lfw_image_path(name, int(first)), lfw_image_path(name, int(second)), True, fold, number
            )
        elif len(fields) == 4:
            name_a, first, name_b, second = fields
            pair = Pair(
                lfw_image_path(name_a, int(first)), lfw_image_path(name_b, int(second)), False, fold, number
            )
        else:
            raise ProtocolError(
                f"{path}:{number}: expected 3 fields (same person) or 4 (different people), "
                f"got {len(fields)}: {line!r}"
            )
    except ValueError as error:
        if isinstance(error, ProtocolError):
            raise
        raise ProtocolError(f"{path}:{number}: image numbers must be integers: {line!r}") from None
    if pair.same != same:
        kind = "same-person" if same else "different-people"
        raise ProtocolError(f"{path}:{number}: expected a {kind} line here, got {line!r}")
    for image in (pair.image_a, pair.image_b):
        check_path_characters(path, number, "the image path", image)
    return pair


def check_path_characters(protocol: Path, line: int, subject: str, value: str) -> None:
    """Refuse a path no file system can hold, naming the protocol's line and ``subject``: a NUL
    byte ends a C string, so ``os`` would stop on it with a bare ``ValueError``."""
    if "\0" in value:
        raise ProtocolError(
            f"{protocol}:{line}: {subject} holds a NUL byte, which no file name can hold: {value!r}"
        )


def check_distinct(path: Path, pairs: Iterable[Pair]) -> None:
    """Reject a pair of one image with itself, and every pair that repeats another (the same two
    images in either order, in any fold): each would count twice, or trivially, in the metrics."""
    first_line: dict[frozenset[str], int] = {}
    repeats = []
    for pair in pairs:
        if pair.image_a == pair.image_b:
            raise ProtocolError(f"{path}:{pair.line}: the pair compares {pair.image_a} with itself")
        first = first_line.setdefault(frozenset((pair.image_a, pair.image_b)), pair.line)
        if first != pair.line:
            repeats.append(f"{path}:{pair.line}: {pair.image_a}, {pair.image_b} repeats line {first}")
    if repeats:
        raise ProtocolError(
            f"{path}: {len(repeats)} pair(s) repeat an earlier pair (the same two images, in either order):"
            + listing(repeats)
        )


def listing(lines: Sequence[str]) -> str:
    """The first ``LISTED`` lines, indented, and how many more there are."""
    shown = "".join(f"\n  {line}" for line in lines[:LISTED])
    return shown + (f"\n  ... and {len(lines) - LISTED} more" if len(lines) > LISTED else "")


def select_pairs(pairs: list[Pair], folds: list[int] | None, pairs_per_fold: int | None) -> list[Pair]:
    """Keep the given folds, and in each the first ``pairs_per_fold / 2`` same and different
    pairs (for quick runs); the protocol's order is kept."""
    if folds is not None:
        known = sorted({pair.fold for pair in pairs})
        unknown = sorted(set(folds) - set(known))
        if unknown:
            raise ValueError(f"dataset.folds {unknown} do not exist; the protocol has folds {known}")
        pairs = [pair for pair in pairs if pair.fold in set(folds)]
    if pairs_per_fold is None:
        return pairs
    if pairs_per_fold < 2:
        raise ValueError(f"dataset.pairs_per_fold must be >= 2, got {pairs_per_fold}")
    kept: list[Pair] = []
    taken: dict[tuple[int, bool], int] = {}
    for pair in pairs:
        key = (pair.fold, pair.same)
        if taken.get(key, 0) < pairs_per_fold // 2:
            taken[key] = taken.get(key, 0) + 1
            kept.append(pair)
    return kept


def check_scorable(path: Path, pairs: Sequence[Pair], fold_advice: str = "") -> None:
    """Refuse, before any image is read, selected pairs that ``evaluate_verification`` cannot
    score the way it scores them: it needs both labels; with two folds or more it measures each
    fold at a threshold chosen on the others, so every fold needs both labels (a one-label fold's
    accuracy would be a TAR or a TNR); one fold it cross-validates in ``StratifiedKFold`` splits,
    which need two pairs of each label. ``fold_advice`` ends the message on a one-label fold."""
    if not pairs:
        raise ProtocolError(f"{path}: no pairs to score")
    counts = Counter((pair.fold, pair.same) for pair in pairs)
    labels = {same for _, same in counts}
    if len(labels) == 1:
        (same,) = labels
        raise ProtocolError(
            f"{path}: all {len(pairs)} pair(s) to score are {KINDS[same]}; verification needs both "
            f"labels: add {KINDS[not same]}"
        )
    folds = sorted({fold for fold, _ in counts})
    if len(folds) == 1:
        _check_one_fold(path, folds[0], counts[(folds[0], True)], counts[(folds[0], False)])
    else:
        _check_every_fold_holds_both_labels(path, folds, counts, fold_advice)


def _check_one_fold(path: Path, fold: int, same: int, different: int) -> None:
    if min(same, different) < 2:
        raise ProtocolError(
            f"{path}: the pairs to score are one fold (fold {fold}) of {same} same-person and "
            f"{different} different-people pair(s); one fold is cross-validated in stratified splits, "
            "which need at least 2 pairs of each label: score more pairs (dataset.pairs_per_fold) "
            "or more folds (dataset.folds)"
        )


def _check_every_fold_holds_both_labels(
    path: Path, folds: list[int], counts: Counter[tuple[int, bool]], fold_advice: str
) -> None:
    problems = []
    for same in (True, False):
        lacking = [fold for fold in folds if counts[(fold, not same)] == 0]
        if lacking:
            named = ", ".join(map(str, lacking))
            subject = f"fold {named} holds" if len(lacking) == 1 else f"folds {named} hold"
            problems.append(f"{subject} only {KINDS[same]}")
    if problems:
        raise ProtocolError(
            f"{path}: {'; '.join(problems)}; every fold needs both labels, since each fold is scored "
            "at a threshold chosen on the others: add the missing label to those folds, or leave them "
            f"out with dataset.folds{fold_advice}"
        )
