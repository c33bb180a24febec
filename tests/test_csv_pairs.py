"""The generic CSV pairs data set (``dataset=pairs``): parsing, folds, errors, and a real run."""

from __future__ import annotations

import csv
import shutil
from collections import Counter
from pathlib import Path

import pytest
from omegaconf import MissingMandatoryValue

from bench.assets import resolve
from bench.config import BenchConfig
from bench.data import Pair, ProtocolError, load_dataset, missing_files, parse_csv_pairs, parse_lfw_pairs
from bench.pipeline import BenchmarkRunner, ImageStatus
from bench.tracking.artifacts import write_failures

from . import corpus
from .conftest import bench_config


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def pairs_config(root: Path, protocol: Path, *overrides: str) -> BenchConfig:
    """The ``dataset=pairs`` config exactly as the command line builds it."""
    return bench_config(
        "dataset=pairs", f"dataset.root='{root}'", f"dataset.pairs_csv='{protocol}'", *overrides
    )


def test_fold_column_is_used(tmp_path: Path) -> None:
    path = write(tmp_path / "pairs.csv", "path_a,path_b,label,fold\na.jpg,b.jpg,1,3\nc/d.jpg,./e.jpg,0,0\n")
    assert parse_csv_pairs(path, num_folds=10) == [
        Pair("a.jpg", "b.jpg", True, 3),
        Pair("c/d.jpg", "e.jpg", False, 0),
    ]


def test_columns_in_any_order_with_spaces_and_a_bom(tmp_path: Path) -> None:
    path = tmp_path / "pairs.csv"
    path.write_bytes("\ufefflabel, path_b ,path_a\n 0 ,b.jpg, a.jpg\n\n1,d.jpg,c.jpg\n".encode())
    pairs = parse_csv_pairs(path, num_folds=10)
    assert pairs == [Pair("a.jpg", "b.jpg", False, 0), Pair("c.jpg", "d.jpg", True, 0)]
    assert [pair.line for pair in pairs] == [2, 4]


def test_folds_are_dealt_round_robin_within_each_label(tmp_path: Path) -> None:
    # Labels in file order: 1 1 1 0 0 1 0 0 0 1 (five of each).
    labels = [1, 1, 1, 0, 0, 1, 0, 0, 0, 1]
    rows = "".join(f"x{i}.jpg,y{i}.jpg,{label}\n" for i, label in enumerate(labels))
    path = write(tmp_path / "pairs.csv", "path_a,path_b,label\n" + rows)
    pairs = parse_csv_pairs(path, num_folds=2)
    assert [pair.fold for pair in pairs] == [0, 1, 0, 0, 1, 1, 0, 1, 0, 0]
    assert Counter((pair.fold, pair.same) for pair in pairs) == {
        (0, True): 3,
        (1, True): 2,
        (0, False): 3,
        (1, False): 2,
    }
    assert parse_csv_pairs(path, num_folds=2) == pairs  # the file alone decides
    assert [pair.fold for pair in parse_csv_pairs(path, num_folds=10)] == [0, 1, 2, 0, 1, 3, 2, 3, 4, 4]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "",
            "{path}: empty pairs file: the first line must be the header path_a,path_b,label "
            "(optionally ,fold, any order)",
        ),
        ("path_a,path_b,label\n", "{path}: no pairs after the header"),
        ("path_a,path_b,label\n\n \n", "{path}: no pairs after the header"),
        (
            "a.jpg,b.jpg,1\n",
            "{path}:1: the first line must be the header path_a,path_b,label "
            "(optionally ,fold, any order); got 'a.jpg,b.jpg,1'",
        ),
        (
            "path_a,path_b,same\n",
            "{path}:1: the first line must be the header path_a,path_b,label "
            "(optionally ,fold, any order); got 'path_a,path_b,same'",
        ),
        (
            "path_a,path_b,label,flod\n",
            "{path}:1: the first line must be the header path_a,path_b,label "
            "(optionally ,fold, any order); got 'path_a,path_b,label,flod'",
        ),
        (
            "path_a,path_b,label\na.jpg,b.jpg,1\nc.jpg,d.jpg\n",
            "{path}:3: expected 3 fields (path_a,path_b,label), got 2: 'c.jpg,d.jpg'",
        ),
        (
            "path_a,path_b,label\na.jpg,b.jpg,1,2\n",
            "{path}:2: expected 3 fields (path_a,path_b,label), got 4: 'a.jpg,b.jpg,1,2'",
        ),
        (
            "path_a,path_b,label\na.jpg,b.jpg,2\n",
            "{path}:2: label must be 1 (same person) or 0 (different people), got '2'",
        ),
        (
            "path_a,path_b,label\na.jpg,b.jpg,yes\n",
            "{path}:2: label must be 1 (same person) or 0 (different people), got 'yes'",
        ),
        (
            "path_a,path_b,label,fold\na.jpg,b.jpg,1,one\n",
            "{path}:2: fold must be a non-negative integer, got 'one'",
        ),
        (
            "path_a,path_b,label,fold\na.jpg,b.jpg,1,-1\n",
            "{path}:2: fold must be a non-negative integer, got '-1'",
        ),
        (
            "path_a,path_b,label\n,b.jpg,1\n",
            "{path}:2: path_a must be a file path relative to dataset.root, got ''",
        ),
        (
            "path_a,path_b,label\na.jpg,/data/b.jpg,1\n",
            "{path}:2: path_b must be a file path relative to dataset.root, got '/data/b.jpg'",
        ),
        (
            "path_a,path_b,label\na.jpg,../b.jpg,1\n",
            "{path}:2: path_b must be a file path relative to dataset.root, got '../b.jpg'",
        ),
        ("path_a,path_b,label\na.jpg,./a.jpg,1\n", "{path}:2: the pair compares a.jpg with itself"),
        ('path_a,path_b,label\n"a.jpg,b.jpg,1\n', "{path}:2: not valid CSV: unexpected end of data"),
    ],
)
def test_malformed_csv_names_file_and_line(tmp_path: Path, content: str, message: str) -> None:
    path = write(tmp_path / "pairs.csv", content)
    with pytest.raises(ProtocolError) as error:
        parse_csv_pairs(path, num_folds=10)
    assert str(error.value) == message.format(path=path)


def test_duplicates_in_either_order_and_any_fold_report_both_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path / "pairs.csv",
        "path_a,path_b,label,fold\na.jpg,b.jpg,1,0\nc.jpg,d.jpg,0,0\nb.jpg,a.jpg,1,1\n",
    )
    with pytest.raises(ProtocolError) as error:
        parse_csv_pairs(path, num_folds=10)
    assert str(error.value) == (
        f"{path}: 1 pair(s) repeat an earlier pair (the same two images, in either order):\n"
        f"  {path}:4: b.jpg, a.jpg repeats line 2"
    )


def test_not_a_text_file(tmp_path: Path) -> None:
    path = tmp_path / "pairs.csv"
    path.write_bytes(corpus.jpeg_bytes(corpus.pattern(16, 16)))
    with pytest.raises(ProtocolError) as error:
        parse_csv_pairs(path, num_folds=10)
    assert str(error.value) == f"{path}: not a UTF-8 text file"


def test_num_folds_must_be_positive(tmp_path: Path) -> None:
    path = write(tmp_path / "pairs.csv", "path_a,path_b,label\na.jpg,b.jpg,1\n")
    with pytest.raises(ValueError, match=r"dataset\.num_folds must be an integer >= 1, got 0"):
        parse_csv_pairs(path, num_folds=0)


def image_folder(root: Path, names: list[str]) -> Path:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).touch()
    return root


def test_load_through_the_config(tmp_path: Path) -> None:
    root = image_folder(tmp_path / "images", [f"p{i}/{j}.jpg" for i in range(4) for j in range(2)])
    rows = [f"p{i}/0.jpg,p{i}/1.jpg,1" for i in range(4)] + [f"p{i}/0.jpg,p{i + 1}/1.jpg,0" for i in range(3)]
    protocol = write(tmp_path / "pairs.csv", "path_a,path_b,label\n" + "\n".join(rows) + "\n")
    dataset = load_dataset(pairs_config(root, protocol, "dataset.num_folds=2").dataset)
    assert (dataset.name, dataset.image_root, dataset.aligned) == ("pairs", root, False)
    assert len(dataset.pairs) == 7 and len(dataset.images) == 8
    assert dataset.folds.tolist() == [0, 1, 0, 1, 0, 1, 0]
    assert dataset.labels.tolist() == [1, 1, 1, 1, 0, 0, 0]
    quick = load_dataset(
        pairs_config(root, protocol, "dataset.folds=[0,1]", "dataset.pairs_per_fold=2").dataset
    )
    assert [(pair.image_a, pair.fold, pair.same) for pair in quick.pairs] == [
        ("p0/0.jpg", 0, True),
        ("p1/0.jpg", 1, True),
        ("p0/0.jpg", 0, False),
        ("p1/0.jpg", 1, False),
    ]


def rows_of(labels: list[int], folds: list[int] | None = None) -> str:
    """A protocol of distinct pairs with these labels (and this fold column, when given)."""
    if folds is None:
        return "path_a,path_b,label\n" + "".join(
            f"a{i}.jpg,b{i}.jpg,{label}\n" for i, label in enumerate(labels)
        )
    rows = (
        f"a{i}.jpg,b{i}.jpg,{label},{fold}\n"
        for i, (label, fold) in enumerate(zip(labels, folds, strict=True))
    )
    return "path_a,path_b,label,fold\n" + "".join(rows)


@pytest.mark.parametrize(
    ("content", "overrides", "problem"),
    [
        (
            rows_of([1] * 12),
            [],
            "all 12 pair(s) to score are same-person pairs (label 1); verification needs both labels: "
            "add different-people pairs (label 0)",
        ),
        (
            rows_of([1]),
            [],
            "all 1 pair(s) to score are same-person pairs (label 1); verification needs both labels: "
            "add different-people pairs (label 0)",
        ),
        (
            rows_of([1, 0]),
            [],
            "the pairs to score are one fold (fold 0) of 1 same-person and 1 different-people pair(s); "
            "one fold is cross-validated in stratified splits, which need at least 2 pairs of each label",
        ),
        (
            rows_of([1, 0, 1, 0, 1, 1], folds=[0, 0, 1, 1, 3, 3]),
            [],
            "fold 3 holds only same-person pairs (label 1); every fold needs both labels",
        ),
        (
            rows_of([1] * 12 + [0] * 3),
            [],
            "folds 3, 4, 5, 6, 7, 8, 9 hold only same-person pairs (label 1); every fold needs both labels",
        ),
        (
            rows_of([1, 1, 0, 0]),
            ["dataset.num_folds=2", "dataset.folds=[1]"],
            "the pairs to score are one fold (fold 1) of 1 same-person and 1 different-people pair(s)",
        ),
    ],
)
def test_a_protocol_that_cannot_be_scored_stops_before_any_image_is_read(
    tmp_path: Path, content: str, overrides: list[str], problem: str
) -> None:
    """Both labels, every fold holding both, one fold at least two of each (``evaluate_verification``
    cross-validates it): checked on the pairs selected, naming the file, before the images are read."""
    protocol = write(tmp_path / "pairs.csv", content)
    with pytest.raises(ProtocolError) as error:
        load_dataset(pairs_config(tmp_path, protocol, *overrides).dataset)
    assert str(error.value).startswith(f"{protocol}: {problem}"), error.value


def test_dealt_folds_that_lack_a_label_explain_the_dealing(tmp_path: Path) -> None:
    protocol = write(tmp_path / "pairs.csv", rows_of([1] * 12 + [0] * 3))
    with pytest.raises(
        ProtocolError,
        match=r"into dataset\.num_folds, now 10, folds: .* the rarer label, here 3 pair\(s\), has at least",
    ):
        load_dataset(pairs_config(tmp_path, protocol).dataset)
    dataset = load_dataset(
        pairs_config(tmp_path, protocol, "dataset.num_folds=3", "dataset.on_missing=count").dataset
    )
    assert sorted(set(dataset.folds.tolist())) == [0, 1, 2]


def test_root_and_pairs_csv_are_mandatory(tmp_path: Path) -> None:
    with pytest.raises(MissingMandatoryValue, match=r"dataset\.pairs_csv"):
        bench_config("dataset=pairs", f"dataset.root='{tmp_path}'")  # OmegaConf's own error, naming the key
    with pytest.raises(MissingMandatoryValue, match=r"dataset\.root"):
        bench_config("dataset=pairs")


def test_root_and_protocol_must_exist(tmp_path: Path) -> None:
    protocol = write(tmp_path / "pairs.csv", "path_a,path_b,label\na.jpg,b.jpg,1\n")
    with pytest.raises(FileNotFoundError, match=f"dataset.root: {tmp_path / 'nowhere'} is not a folder"):
        load_dataset(pairs_config(tmp_path / "nowhere", protocol).dataset)
    with pytest.raises(FileNotFoundError, match=f"dataset.pairs_csv: {tmp_path / 'no.csv'} is not a file"):
        load_dataset(pairs_config(tmp_path, tmp_path / "no.csv").dataset)


def test_missing_files_in_listed_and_stat_folders(tmp_path: Path) -> None:
    # Folders asked for more than a few files are listed once; the others are stat-ed per file.
    image_folder(tmp_path, [f"flat/{i}.jpg" for i in range(4)] + ["few/a.jpg"])
    (tmp_path / "flat" / "dir.jpg").mkdir()  # a folder is not an image file
    wanted = [f"flat/{i}.jpg" for i in range(6)] + ["flat/dir.jpg", "few/a.jpg", "few/b.jpg"]
    wanted += [f"gone/{i}.jpg" for i in range(6)]
    assert missing_files(tmp_path, wanted) == {
        "flat/4.jpg",
        "flat/5.jpg",
        "flat/dir.jpg",
        "few/b.jpg",
        *(f"gone/{i}.jpg" for i in range(6)),
    }


def test_missing_images_error_or_count(tmp_path: Path) -> None:
    root = image_folder(tmp_path / "images", ["a.jpg", "b.jpg", "c.jpg"])
    protocol = write(
        tmp_path / "pairs.csv",
        "path_a,path_b,label\na.jpg,b.jpg,1\na.jpg,sub/gone.jpg,0\nb.jpg,c.jpg,0\nc.jpg,a.jpg,1\n",
    )
    with pytest.raises(ProtocolError) as error:
        load_dataset(pairs_config(root, protocol, "dataset.num_folds=2").dataset)
    assert str(error.value) == (
        f"{protocol}: 1 missing image(s) under {root}, named by 1 pair(s) "
        "(dataset.on_missing=count runs the rest and counts them as failures):\n"
        f"  {protocol}:3: sub/gone.jpg"
    )
    dataset = load_dataset(
        pairs_config(root, protocol, "dataset.num_folds=2", "dataset.on_missing=count").dataset
    )
    assert dataset.images == ["a.jpg", "b.jpg", "sub/gone.jpg", "c.jpg"]


# -- a real run over a small corpus ------------------------------------------------------------

#: Bad files in the run's corpus, and the reason failures.csv must give for each.
BAD_FILES = {
    "bad/empty.jpg": "empty file",
    "bad/truncated.jpg": "truncated JPEG: no end-of-image marker",
    "bad/corrupt.jpg": "not a decodable image: corrupt JPEG data",
    "bad/notes.jpg": "not an image: starts with bytes that no supported format has",
    "bad/missing.jpg": "file does not exist",
}


def build_corpus(root: Path, lfw_root: Path) -> list[tuple[str, str, int]]:
    """Four same-person and four different-people LFW pairs (fold 0 of View 2, the images
    copied in), and one pair per bad file and per tiny image, against good images."""
    protocol = parse_lfw_pairs(resolve("lfw_pairs"))
    good = protocol[:4] + protocol[300:304]
    for path in {path for pair in good for path in (pair.image_a, pair.image_b)}:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(lfw_root / path, root / path)  # a link out of the root would be refused
    photo = (lfw_root / good[0].image_a).read_bytes()
    corpus.empty_file(root, "bad/empty.jpg")
    corpus.truncated_jpeg(root, "bad/truncated.jpg", source=photo)
    corpus.corrupt_jpeg(root, "bad/corrupt.jpg", source=photo)
    corpus.text_file(root, "bad/notes.jpg")
    corpus.tiny_jpeg(root, "odd/tiny.jpg")
    rows = [(pair.image_a, pair.image_b, int(pair.same)) for pair in good]
    partners = [pair.image_b for pair in good]
    for i, name in enumerate([*BAD_FILES, "odd/tiny.jpg"]):
        rows.append((name, partners[i], i % 2))
    return rows


@pytest.mark.parametrize("cache", ["disk", "off"])
def test_run_counts_each_bad_image_as_a_failure_with_its_reason(
    tmp_path: Path, lfw_root: Path, cache: str
) -> None:
    root = tmp_path / "images"
    rows = build_corpus(root, lfw_root)
    protocol = corpus.pairs_csv(tmp_path / "pairs.csv", rows)
    cfg = pairs_config(root, protocol, f"cache={cache}", "dataset.num_folds=2")
    with pytest.raises(ProtocolError, match=r"pairs\.csv:14: bad/missing\.jpg"):
        BenchmarkRunner(cfg)  # before any model loads

    config = pairs_config(root, protocol, f"cache={cache}", "dataset.num_folds=2", "dataset.on_missing=count")
    with BenchmarkRunner(config) as runner:
        result = runner.run()
    records = corpus.records_by_path(result)
    corpus.assert_decode_errors(records, root, BAD_FILES)
    assert records["odd/tiny.jpg"].status is ImageStatus.NO_FACE and records["odd/tiny.jpg"].fallback
    good = [record for path, record in records.items() if not path.startswith(("bad/", "odd/"))]
    assert all(record.status is ImageStatus.DETECTED for record in good)

    metrics = result.metrics
    assert metrics["num_failed_images"] == len(BAD_FILES) + 1
    assert (metrics["num_pairs_total"], metrics["num_pairs_scored"]) == (len(rows), 9)
    assert 0.5 <= metrics["accuracy"] <= 1.0

    write_failures(result, tmp_path / "failures.csv")
    with (tmp_path / "failures.csv").open() as file:
        failures = {row["image"]: row for row in csv.DictReader(file)}
    assert set(failures) == {*BAD_FILES, "odd/tiny.jpg"}
    # The image column names the file; the reason is its content's, shared by every copy.
    assert failures["bad/truncated.jpg"]["reason"] == "truncated JPEG: no end-of-image marker"
    assert failures["odd/tiny.jpg"]["fallback"] == "1"
