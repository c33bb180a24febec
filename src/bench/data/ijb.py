"""IJB-B and IJB-C as insightface's ``IJB_release`` distributes them: meta files and loose crops.

Layout under ``ROOT`` for target ``IJBC`` (prefix ``ijbc``) or ``IJBB`` (prefix ``ijbb``)::

    meta/ijbc_face_tid_mid.txt         image_name template_id media_id       one line per image
    meta/ijbc_name_5pts_score.txt      image_name x1 y1 ... x5 y5 score      the same images, same order
    meta/ijbc_template_pair_label.txt  template_a template_b label           1:1 pairs, 1 = same subject
    meta/ijbc_1N_probe_mixed.csv       TEMPLATE_ID,SUBJECT_ID,FILENAME,...   1:N (optional), a row per image
    meta/ijbc_1N_gallery_G1.csv, ..._G2.csv                                 its two disjoint galleries
    loose_crop/<image_name>

IJB-B's galleries are ``ijbb_1N_gallery_S1.csv`` and ``..._S2.csv``. Fields are separated by
spaces (the CSVs by commas, after a header). insightface reads the two per-image files separately
and pairs their rows by position, so this reader insists that they list the same images in the
same order. Landmarks are pixel coordinates in the loose crop, in the order of
``bench.detectors.FIVE_POINTS`` (image-left eye, image-right eye, nose, left and right mouth
corner); the score is the detector's, which insightface uses to weight each image's feature.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bench.config.validate import is_ascii_integer
from bench.data.files import missing_files
from bench.data.pairs import ProtocolError, check_path_characters

#: The galleries of each target's 1:N protocol, as insightface names their files.
GALLERIES: dict[str, tuple[str, str]] = {"IJBC": ("G1", "G2"), "IJBB": ("S1", "S2")}
#: How many offending items an error lists before it just counts the rest.
LISTED = 10
#: The 1:N CSVs' first columns, the only ones read (insightface reads them by position).
CSV_COLUMNS = ("TEMPLATE_ID", "SUBJECT_ID")
_INT64 = np.iinfo(np.int64)
_PAIR_FIELDS = ("the first template id", "the second template id", "the label")


@dataclass(frozen=True)
class IjbFiles:
    """Where each file of a target lives under ``root``."""

    root: Path
    target: str

    def __post_init__(self) -> None:
        if self.target not in GALLERIES:
            raise ValueError(f"IJB target must be one of {sorted(GALLERIES)}, got {self.target!r}")
        object.__setattr__(self, "root", Path(self.root))

    @property
    def meta(self) -> Path:
        return self.root / "meta"

    @property
    def images(self) -> Path:
        return self.root / "loose_crop"

    @property
    def templates(self) -> Path:
        return self.meta / f"{self.target.lower()}_face_tid_mid.txt"

    @property
    def landmarks(self) -> Path:
        return self.meta / f"{self.target.lower()}_name_5pts_score.txt"

    @property
    def pairs(self) -> Path:
        return self.meta / f"{self.target.lower()}_template_pair_label.txt"

    @property
    def probe(self) -> Path:
        return self.meta / f"{self.target.lower()}_1N_probe_mixed.csv"

    @property
    def galleries(self) -> dict[str, Path]:
        prefix = self.target.lower()
        return {name: self.meta / f"{prefix}_1N_gallery_{name}.csv" for name in GALLERIES[self.target]}


@dataclass(frozen=True, eq=False)
class IjbProtocol:
    """One IJB target: per image (in file order) its template, media, landmarks and detector
    score; the 1:1 template pairs; and, when there are 1:N files, each probe and gallery
    template's subject. Arrays are coerced to the dtypes noted, and the parts must agree: every
    template a pair or a 1:N file names has an image (else its feature would be empty)."""

    root: Path
    target: str
    image_names: tuple[str, ...]
    templates: np.ndarray  # (N,) int64
    medias: np.ndarray  # (N,) int64
    landmarks: np.ndarray  # (N, 5, 2) float32, loose-crop pixels
    detector_scores: np.ndarray  # (N,) float32
    pairs_a: np.ndarray  # (P,) int64 template ids
    pairs_b: np.ndarray  # (P,) int64
    labels: np.ndarray  # (P,) int64, 1 = same subject
    probe_subjects: Mapping[int, int] | None = None  # template -> subject
    gallery_subjects: Mapping[str, Mapping[int, int]] | None = None  # "G1", "G2" (IJB-B "S1", "S2") -> ...

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", IjbFiles(self.root, self.target).root)
        object.__setattr__(self, "image_names", tuple(self.image_names))
        num_images, num_pairs = len(self.image_names), len(self.pairs_a)
        for name, dtype, shape in (
            ("templates", np.int64, (num_images,)),
            ("medias", np.int64, (num_images,)),
            ("landmarks", np.float32, (num_images, 5, 2)),
            ("detector_scores", np.float32, (num_images,)),
            ("pairs_a", np.int64, (num_pairs,)),
            ("pairs_b", np.int64, (num_pairs,)),
            ("labels", np.int64, (num_pairs,)),
        ):
            value = np.asarray(getattr(self, name), dtype=dtype)
            if value.shape != shape:
                raise ValueError(f"IJB {name} must have shape {shape}, got {value.shape}")
            object.__setattr__(self, name, value)
        if not np.isin(self.labels, (0, 1)).all():
            raise ValueError(f"IJB pair labels must be 0 or 1, got {np.unique(self.labels).tolist()}")
        pair_lines = np.tile(np.arange(1, num_pairs + 1), 2)
        self._check_known(self.files.pairs, np.concatenate([self.pairs_a, self.pairs_b]), pair_lines)

        if (self.probe_subjects is None) != (self.gallery_subjects is None):
            raise ValueError("IJB 1:N needs both probe_subjects and gallery_subjects, or neither")
        if self.probe_subjects is None or self.gallery_subjects is None:
            return
        names = GALLERIES[self.target]
        if sorted(self.gallery_subjects) != sorted(names):
            raise ValueError(
                f"{self.target}'s galleries are {list(names)}, got {list(self.gallery_subjects)}"
            )
        object.__setattr__(self, "probe_subjects", _int_map(self.probe_subjects))
        galleries = {name: _int_map(self.gallery_subjects[name]) for name in names}
        object.__setattr__(self, "gallery_subjects", galleries)
        for path, subjects in self.subject_files():
            self._check_known(path, np.fromiter(subjects, np.int64, len(subjects)))

    @property
    def files(self) -> IjbFiles:
        return IjbFiles(self.root, self.target)

    def image_path(self, index: int) -> Path:
        return self.files.images / self.image_names[index]

    def subject_files(self) -> list[tuple[Path, Mapping[int, int]]]:
        """The 1:N files and their template -> subject maps, probe first; none without 1:N."""
        if self.probe_subjects is None or self.gallery_subjects is None:
            return []
        files = self.files
        galleries = [(path, self.gallery_subjects[name]) for name, path in files.galleries.items()]
        return [(files.probe, self.probe_subjects), *galleries]

    def _check_known(self, path: Path, named: np.ndarray, lines: np.ndarray | None = None) -> None:
        unknown = np.unique(named[~np.isin(named, self.templates)])
        if unknown.size == 0:
            return
        described = []
        for template in unknown[:LISTED].tolist():
            first = "" if lines is None else f" (first on line {lines[np.argmax(named == template)]})"
            described.append(f"template {template}{first}")
        raise ProtocolError(
            f"{path}: names {unknown.size} template(s) that have no image in {self.files.templates}:"
            + _listing(described, unknown.size)
        )


def load_ijb(root: Path, target: str = "IJBC", check_images: bool = True) -> IjbProtocol:
    """Read a target's meta files (the 1:N ones when any is present: then all three must be)
    and, with ``check_images``, make sure every loose crop exists."""
    files = IjbFiles(root, target)
    names, templates, medias = _read_templates(files.templates)
    landmark_names, landmarks, scores = _read_landmarks(files.landmarks)
    _check_same_images(files, names, landmark_names)
    pairs_a, pairs_b, labels = _read_pairs(files.pairs)
    probe, galleries = _read_identification(files)
    protocol = IjbProtocol(
        files.root, target, names, templates, medias, landmarks, scores, pairs_a, pairs_b, labels,
        probe, galleries,
    )  # fmt: skip
    if check_images:
        check_images_exist(protocol)
    return protocol


def check_images_exist(protocol: IjbProtocol) -> None:
    """Raise ``FileNotFoundError`` listing the loose crops that are not on disk."""
    files = protocol.files
    missing = missing_files(files.images, protocol.image_names)
    if missing:
        absent = [name for name in protocol.image_names if name in missing]
        raise FileNotFoundError(
            f"{files.images}: {len(absent)} of {len(protocol.image_names)} loose crop(s) named in "
            f"{files.templates} are missing:" + _listing(absent)
        )


def write_ijb_meta(protocol: IjbProtocol) -> None:
    """Write ``protocol``'s meta files under ``protocol.root/meta`` in the release's format; the
    loose crops are the caller's. Coordinates and scores are written as the shortest decimal that
    reads back as the same float32 (the release rounds them to 3 decimals; any decimal reads).
    A 1:N CSV gets one row per image of each template it lists, ``FILENAME`` the image's name."""
    files = protocol.files
    files.meta.mkdir(parents=True, exist_ok=True)
    images = list(zip(protocol.image_names, protocol.templates.tolist(), strict=True))
    _write_lines(
        files.templates, (f"{name} {t} {m}" for (name, t), m in zip(images, protocol.medias, strict=True))
    )
    _write_lines(
        files.landmarks,
        (
            " ".join([name, *map(_decimal, points.reshape(-1)), _decimal(score)])
            for name, points, score in zip(
                protocol.image_names, protocol.landmarks, protocol.detector_scores, strict=True
            )
        ),
    )
    _write_lines(
        files.pairs,
        (f"{a} {b} {y}" for a, b, y in zip(protocol.pairs_a, protocol.pairs_b, protocol.labels, strict=True)),
    )
    for path, subjects in protocol.subject_files():
        rows = [f"{t},{subjects[t]},{name}" for name, t in images if t in subjects]
        _write_lines(path, [",".join((*CSV_COLUMNS, "FILENAME")), *rows])


# -- reading -----------------------------------------------------------------------------------


def _lines(path: Path, what: str) -> list[str]:
    """The file's lines; blank lines at the end are ignored, elsewhere they are an error."""
    lines = _existing(path, what).read_text().rstrip().splitlines()
    if not lines:
        raise ProtocolError(f"{path}: the {what} file is empty")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            raise ProtocolError(f"{path}:{number}: blank line; every line of the {what} file is a record")
    return lines


def _existing(path: Path, what: str) -> Path:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the {what} file is missing")
    return path


def _columns(path: Path, what: str, dtypes: tuple[type, ...]) -> list[np.ndarray] | None:
    """The columns of a space-separated file by pandas's C parser (IJB-C's pair file has 15.7
    million lines: 0.1 s a million against 2.5 s line by line), or None when the file does not
    parse cleanly as exactly these columns: the line-by-line reader then finds and names the
    problem (or accepts what the strict parse refused, such as several spaces in a row)."""
    try:
        frame = pd.read_csv(
            _existing(path, what), sep=" ", header=None, dtype=dict(enumerate(dtypes)), na_filter=False,
            skip_blank_lines=False, engine="c",
        )  # fmt: skip
    except (ValueError, OverflowError, pd.errors.ParserError, pd.errors.EmptyDataError):
        return None
    if frame.shape[1] != len(dtypes):
        return None
    columns = [frame[index].to_numpy() for index in range(len(dtypes))]
    if any(column.dtype.kind == "f" and not np.isfinite(column).all() for column in columns):
        return None
    return columns


def _records(path: Path, what: str, layout: str) -> Iterable[tuple[int, list[str]]]:
    """Each line's number and its space-separated fields, as many as ``layout`` names."""
    count = len(layout.split())
    for number, line in enumerate(_lines(path, what), start=1):
        fields = line.split()
        if len(fields) != count:
            raise ProtocolError(f"{path}:{number}: expected {count} fields ({layout}), got {len(fields)}")
        yield number, fields


def _number(path: Path, number: int, text: str, what: str, kind: Callable[[str], float] = int) -> float:
    """``text`` as ``kind``: an integer in ASCII digits within int64 (``int`` alone reads any
    script's digits and any size), or a finite float."""
    try:
        value = kind(text)
    except ValueError:
        value = math.nan
    if kind is int and not (is_ascii_integer(text) and _INT64.min <= value <= _INT64.max):
        value = math.nan
    if not math.isfinite(value):
        wanted = "an integer" if kind is int else "a finite number"
        raise ProtocolError(f"{path}:{number}: {what} must be {wanted}, got {text!r}")
    return value


def _read_templates(path: Path) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    what = "image-template-media (face_tid_mid)"
    columns = _columns(path, what, (str, np.int64, np.int64))
    if columns is not None and pd.Index(columns[0]).is_unique:
        for number, name in enumerate(columns[0], start=1):  # the fast parse keeps every line
            check_path_characters(path, number, "the image name", name)
        return tuple(columns[0]), columns[1], columns[2]
    names, templates, medias = [], [], []
    first_line: dict[str, int] = {}
    for number, (name, template, media) in _records(path, what, "image_name template_id media_id"):
        check_path_characters(path, number, "the image name", name)
        if first_line.setdefault(name, number) != number:
            raise ProtocolError(f"{path}:{number}: image {name} repeats line {first_line[name]}")
        names.append(name)
        templates.append(_number(path, number, template, "the template id"))
        medias.append(_number(path, number, media, "the media id"))
    return tuple(names), np.array(templates, np.int64), np.array(medias, np.int64)


def _read_landmarks(path: Path) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    what = "landmarks and detector scores (name_5pts_score)"
    columns = _columns(path, what, (str, *[np.float64] * 11))
    if columns is not None:
        points = np.stack(columns[1:11], axis=1).astype(np.float32).reshape(-1, 5, 2)
        return tuple(columns[0]), points, columns[11].astype(np.float32)
    names, rows, scores = [], [], []
    layout = "image_name x1 y1 x2 y2 x3 y3 x4 y4 x5 y5 detector_score"
    for number, fields in _records(path, what, layout):
        names.append(fields[0])
        rows.append([_number(path, number, text, "a landmark coordinate", float) for text in fields[1:11]])
        scores.append(_number(path, number, fields[11], "the detector score", float))
    return tuple(names), np.array(rows, np.float32).reshape(-1, 5, 2), np.array(scores, np.float32)


def _read_pairs(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    what = "template pairs (template_pair_label)"
    columns = _columns(path, what, (np.int64, np.int64, np.int64))
    if columns is not None and np.isin(columns[2], (0, 1)).all():
        return columns[0], columns[1], columns[2]
    rows = []
    for number, fields in _records(path, what, "template_a template_b label"):
        a, b, label = (
            _number(path, number, text, what) for text, what in zip(fields, _PAIR_FIELDS, strict=True)
        )
        if label not in (0, 1):
            raise ProtocolError(f"{path}:{number}: the label must be 0 or 1, got {fields[2]!r}")
        rows.append((a, b, label))
    a, b, labels = np.array(rows, np.int64).T
    return a, b, labels


def _read_subjects(path: Path, what: str) -> dict[int, int]:
    """A 1:N CSV's template -> subject map; it has a row per image, so a template repeats, and a
    template given two subjects is an error."""
    lines = _lines(path, what)
    if tuple(field.strip().upper() for field in lines[0].split(","))[:2] != CSV_COLUMNS:
        raise ProtocolError(f"{path}:1: the {what} file must start with a header TEMPLATE_ID,SUBJECT_ID,...")
    subjects: dict[int, int] = {}
    first_line: dict[int, int] = {}
    for number, line in enumerate(lines[1:], start=2):
        fields = line.split(",")
        if len(fields) < 2:
            raise ProtocolError(f"{path}:{number}: expected TEMPLATE_ID,SUBJECT_ID,..., got {line!r}")
        template, subject = (
            int(_number(path, number, text.strip(), column))
            for text, column in zip(fields[:2], CSV_COLUMNS, strict=True)
        )
        first = first_line.setdefault(template, number)
        if subjects.setdefault(template, subject) != subject:
            raise ProtocolError(
                f"{path}:{number}: template {template} has subject {subject} here, {subjects[template]} "
                f"on line {first}"
            )
    if not subjects:
        raise ProtocolError(f"{path}: the {what} file lists no template")
    return subjects


def _read_identification(files: IjbFiles) -> tuple[dict[int, int] | None, dict[str, dict[int, int]] | None]:
    what = {files.probe: "1:N probe"} | {
        path: f"1:N gallery {name}" for name, path in files.galleries.items()
    }
    if not any(path.exists() for path in what):
        return None, None
    probe = _read_subjects(files.probe, what[files.probe])
    return probe, {name: _read_subjects(path, what[path]) for name, path in files.galleries.items()}


def _check_same_images(files: IjbFiles, names: tuple[str, ...], landmark_names: tuple[str, ...]) -> None:
    if names == landmark_names:
        return
    problems = []
    for path, listed, other in (
        (files.templates, names, set(landmark_names)),
        (files.landmarks, landmark_names, set(names)),
    ):
        only = [name for name in listed if name not in other]
        if only:
            problems.append(f"{len(only)} image(s) only in {path}:" + _listing(only))
    if not problems:
        line = next(i for i, (a, b) in enumerate(zip(names, landmark_names, strict=True), start=1) if a != b)
        problems.append(
            f"the order differs from line {line} on ({names[line - 1]} vs {landmark_names[line - 1]}), "
            "and insightface pairs the two files' rows by position"
        )
    raise ProtocolError(
        f"{files.templates} and {files.landmarks} must list the same images in the same order; "
        + "; ".join(problems)
    )


def _int_map(subjects: Mapping[int, int]) -> dict[int, int]:
    return {int(template): int(subject) for template, subject in subjects.items()}


def _listing(items: list[str], total: int | None = None) -> str:
    """The first ``LISTED`` items, indented, and how many more there are (of ``total``)."""
    total = len(items) if total is None else total
    shown = "".join(f"\n  {item}" for item in items[:LISTED])
    return shown + (f"\n  ... and {total - LISTED} more" if total > LISTED else "")


# -- writing -----------------------------------------------------------------------------------


def _decimal(value: np.floating) -> str:
    return np.format_float_positional(np.float32(value), unique=True, trim="-")


def _write_lines(path: Path, lines: Iterable[str]) -> None:
    path.write_text("".join(f"{line}\n" for line in lines))
