"""Training data: insightface's RecordIO without MXNet, the image folder, the resumable loader."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from bench.assets import resolve
from bench.training.data import (
    ImageFolderDataset,
    TrainingDataError,
    build_train_loader,
    train_transform,
)
from bench.training.recordio import (
    MAGIC,
    IRHeader,
    RecordDataset,
    RecordIOError,
    RecordReader,
    RecordWriter,
    frame,
    iter_records,
    main,
    pack,
    pack_image_folder,
    unpack,
)

IDENTITIES = 10
M = struct.pack("<I", MAGIC)


def lrecord(flag: int, length: int) -> bytes:
    return struct.pack("<I", flag << 29 | length)


@pytest.fixture
def faces(tmp_path: Path) -> Path:
    """The first 10 reference-aligned LFW identities with at least 3 images, as an image folder."""
    root = resolve("lfw_aligned_112")
    chosen = [folder for folder in sorted(root.iterdir()) if len(list(folder.iterdir())) >= 3][:IDENTITIES]
    for folder in chosen:
        shutil.copytree(folder, tmp_path / "faces" / folder.name)
    return tmp_path / "faces"


@pytest.fixture
def packed(faces: Path, tmp_path: Path) -> Path:
    assert pack_image_folder(faces, tmp_path / "train") == (len(ImageFolderDataset(faces)), IDENTITIES)
    return tmp_path / "train"


def batches(loader: torch.utils.data.DataLoader) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return list(loader)


def assert_same_batches(a: list, b: list) -> None:
    assert len(a) == len(b)
    for (images_a, labels_a), (images_b, labels_b) in zip(a, b, strict=True):
        assert torch.equal(images_a, images_b) and torch.equal(labels_a, labels_b)


# --- RecordIO ---------------------------------------------------------------------------------


def test_packing_keeps_every_image_and_label_exactly(faces: Path, packed: Path) -> None:
    folder = ImageFolderDataset(faces)
    reader = RecordReader(packed)
    dataset = RecordDataset(packed)
    assert len(dataset) == len(folder)
    for key, (path, label) in enumerate(folder.samples, start=1):
        header, image = unpack(reader.read(key))
        assert image == path.read_bytes()
        assert header == IRHeader(0, float(label), key, 0)
        decoded, read_label = dataset[key - 1]
        assert read_label == label
        assert np.array_equal(decoded, cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB))


def test_the_index_points_at_every_record_in_writing_order(packed: Path) -> None:
    reader = RecordReader(packed)
    records = list(iter_records(reader.rec_path))
    assert [offset for offset, _ in records] == [reader.offset(int(key)) for key in reader.keys]
    assert all(
        payload == reader.read(int(key)) for (_, payload), key in zip(records, reader.keys, strict=True)
    )
    assert all(offset % 4 == 0 for offset, _ in records)
    # face2rec2's order: the images, then the header (key 0), then the identity records.
    images = len(reader) - 1 - IDENTITIES
    assert list(reader.keys) == [*range(1, images + 1), 0, *range(images + 1, len(reader))]


def test_the_header_reads_as_insightface_reads_it(faces: Path, packed: Path) -> None:
    """arcface_torch's MXFaceDataset and arcface_mxnet's FaceImageIter/rec2image, with MXNet's
    calls replaced by this module's."""
    folder = ImageFolderDataset(faces)
    reader = RecordReader(packed)
    header, rest = unpack(reader.read(0))
    assert header.flag > 0 and rest == b""
    header0 = (int(header.label[0]), int(header.label[1]))
    assert list(range(1, header0[0])) == list(range(1, len(folder) + 1))  # MXFaceDataset.imgidx
    assert header0[1] - header0[0] == IDENTITIES
    for label, identity in enumerate(range(*header0)):
        identity_header, _ = unpack(reader.read(identity))
        first, end = int(identity_header.label[0]), int(identity_header.label[1])
        labels = [unpack(reader.read(key))[0].label for key in range(first, end)]
        assert labels == [label] * sum(1 for _, sample in folder.samples if sample == label)


def test_a_set_without_header_is_every_key_and_label_lists_give_their_first(
    faces: Path, tmp_path: Path
) -> None:
    folder = ImageFolderDataset(faces)
    with RecordWriter(tmp_path / "plain") as writer:  # im2rec's layout: images from key 0, no header
        for key, (path, label) in enumerate(folder.samples):
            writer.write(key, pack(IRHeader(0, float(label), key, 0), path.read_bytes()))
    assert [label for _, label in RecordDataset(tmp_path / "plain")] == [label for _, label in folder.samples]

    with RecordWriter(tmp_path / "labels") as writer:  # face2rec2 packs [label, aligned]
        writer.write(0, pack(IRHeader(0, [3.0, 5.0], 0, 0), b""))
        for key in (1, 2):
            writer.write(key, pack(IRHeader(0, [1.0, 0.0], key, 0), folder.samples[key][0].read_bytes()))
        for key, span in ((3, [1.0, 1.0]), (4, [1.0, 3.0])):  # identity 0 has no image, 1 has both
            writer.write(key, pack(IRHeader(0, span, key, 0), b""))
    assert [label for _, label in RecordDataset(tmp_path / "labels")] == [1, 1]


def test_records_are_framed_byte_for_byte_as_mxnet_writes_them(tmp_path: Path) -> None:
    """MXIndexedRecordIO's docstring: five records of 8 bytes sit at offsets 0, 16, ... 64."""
    with RecordWriter(tmp_path / "tmp") as writer:
        for i in range(5):
            writer.write(i, f"record_{i}".encode())
    content = (tmp_path / "tmp.rec").read_bytes()
    assert content == b"".join(M + lrecord(0, 8) + f"record_{i}".encode() for i in range(5))
    assert (tmp_path / "tmp.idx").read_text() == "".join(f"{i}\t{16 * i}\n" for i in range(5))
    assert RecordReader(tmp_path / "tmp").read(3) == b"record_3"


def test_irheader_packs_as_mxnet_pack_does() -> None:
    assert pack(IRHeader(5, 4, 2574, 0), b"jpg") == struct.pack("<IfQQ", 0, 4.0, 2574, 0) + b"jpg"
    labels = struct.pack("<3f", 1, 2, 3)
    assert pack(IRHeader(0, [1, 2, 3], 7, 1), b"jpg") == struct.pack("<IfQQ", 3, 0.0, 7, 1) + labels + b"jpg"
    header, rest = unpack(struct.pack("<IfQQ", 3, 0.0, 7, 1) + labels + b"jpg")
    assert (header.flag, list(header.label), header.id, header.id2, rest) == (3, [1, 2, 3], 7, 1, b"jpg")
    with pytest.raises(RecordIOError, match="announces 3 labels"):
        unpack(struct.pack("<IfQQ", 3, 0.0, 7, 1) + b"\0" * 8)


@pytest.mark.parametrize(
    ("payload", "framed"),
    [
        (b"", M + lrecord(0, 0)),
        (b"abcde", M + lrecord(0, 5) + b"abcde\0\0\0"),
        (b"a" + M + b"bcd", M + lrecord(0, 8) + b"a" + M + b"bcd"),  # not at a multiple of 4: kept
        (b"abcd" + M + b"xy", M + lrecord(1, 4) + b"abcd" + M + lrecord(3, 2) + b"xy\0\0"),
        (M + b"z", M + lrecord(1, 0) + M + lrecord(3, 1) + b"z\0\0\0"),
        (b"abcd" + M, M + lrecord(1, 4) + b"abcd" + M + lrecord(3, 0)),
        (M + M, M + lrecord(1, 0) + M + lrecord(2, 0) + M + lrecord(3, 0)),
    ],
)
def test_a_payload_holding_the_magic_number_is_split_as_dmlc_splits_it(
    payload: bytes, framed: bytes, tmp_path: Path
) -> None:
    assert frame(payload) == framed
    with RecordWriter(tmp_path / "split") as writer:
        writer.write(0, payload)
        writer.write(1, b"next")
    reader = RecordReader(tmp_path / "split")
    assert (reader.read(0), reader.read(1)) == (payload, b"next")
    assert [record for _, record in iter_records(reader.rec_path)] == [payload, b"next"]


def test_an_image_holding_the_magic_number_round_trips(faces: Path, tmp_path: Path) -> None:
    image = next((faces / sorted(p.name for p in faces.iterdir())[0]).iterdir()).read_bytes()
    payload = pack(IRHeader(0, 1.0, 1, 0), image[:400] + M + image[400:] + M)
    with RecordWriter(tmp_path / "magic") as writer:
        writer.write(1, payload)
    assert RecordReader(tmp_path / "magic").read(1) == payload
    assert (tmp_path / "magic.rec").read_bytes().count(M) == 3


def test_bad_files_are_named_errors(packed: Path) -> None:
    rec, idx = packed.with_suffix(".rec"), packed.with_suffix(".idx")
    reader = RecordReader(packed)
    with pytest.raises(RecordIOError, match=r"train\.idx: no key 999"):
        reader.read(999)

    content = bytearray(rec.read_bytes())
    content[reader.offset(5) : reader.offset(5) + 4] = b"\0\0\0\0"
    rec.write_bytes(content)
    with pytest.raises(RecordIOError, match=rf"bad magic 0x00000000 at offset {reader.offset(5)} "):
        RecordReader(packed).read(5)

    last = int(reader.keys[-1])
    rec.write_bytes(content[: reader.offset(last) + 10])
    with pytest.raises(RecordIOError, match=rf"truncated: the record at offset {reader.offset(last)}"):
        RecordReader(packed).read(last)

    lines = idx.read_text().splitlines()
    idx.write_text("\n".join([*lines[:-1], f"{last}\t{len(content) + 100}"]) + "\n")
    with pytest.raises(
        RecordIOError, match=rf"key {last} points to offset {len(content) + 100}, past the end"
    ):
        RecordReader(packed)

    idx.write_text("\n".join([*lines[:2], "3 99", *lines[3:]]) + "\n")
    with pytest.raises(RecordIOError, match=r"train\.idx:3: expected 'key<TAB>offset', got '3 99'"):
        RecordReader(packed)

    idx.write_text("\n".join([*lines[:2], lines[1]]) + "\n")
    with pytest.raises(RecordIOError, match="key 2 appears twice"):
        RecordReader(packed)


def test_an_index_into_a_split_record_or_inside_a_record_is_refused(tmp_path: Path) -> None:
    with RecordWriter(tmp_path / "split") as writer:
        writer.write(0, b"abcd" + M + b"xy")
    (tmp_path / "split.idx").write_text("0\t12\n")  # the second piece of the split record
    with pytest.raises(RecordIOError, match="continuation flag 3 at offset 12, a record's start"):
        RecordReader(tmp_path / "split").read(0)
    (tmp_path / "split.idx").write_text("0\t8\n")  # inside the first piece's payload
    with pytest.raises(RecordIOError, match="bad magic 0x64636261 at offset 8"):
        RecordReader(tmp_path / "split").read(0)


def test_a_missing_image_key_is_named_when_read(packed: Path) -> None:
    idx = packed.with_suffix(".idx")
    idx.write_text(
        "".join(line for line in idx.read_text().splitlines(keepends=True) if not line.startswith("2\t"))
    )
    with pytest.raises(RecordIOError, match="no key 2"):
        RecordDataset(packed)[1]


def test_the_cli_packs_and_a_bad_image_packs_nothing(faces: Path, tmp_path: Path, capsys) -> None:
    assert main(["pack", str(faces), str(tmp_path / "cli")]) == 0
    images = len(ImageFolderDataset(faces))
    assert f"packed {images} images of {IDENTITIES} identities" in capsys.readouterr().out
    assert len(RecordDataset(tmp_path / "cli")) == images

    bad = sorted(faces.iterdir())[4] / "small.png"
    cv2.imwrite(str(bad), np.zeros((100, 100, 3), np.uint8))
    with pytest.raises(TrainingDataError, match=rf"{bad}: 100x100 pixels; training needs aligned 112x112"):
        pack_image_folder(faces, tmp_path / "bad")
    assert not list(tmp_path.glob("bad*"))


# --- Image folder -----------------------------------------------------------------------------


def test_image_folder_orders_identities_and_images_by_name(faces: Path) -> None:
    (sorted(faces.iterdir())[0] / "notes.txt").write_text("not an image")
    (faces / "README.txt").write_text("not an identity")
    dataset = ImageFolderDataset(faces)
    names = sorted(folder.name for folder in faces.iterdir() if folder.is_dir())
    assert dataset.identities == names
    expected = [
        (faces / name / file, label)
        for label, name in enumerate(names)
        for file in sorted(p.name for p in (faces / name).iterdir() if p.suffix == ".jpg")
    ]
    assert dataset.samples == expected
    image, label = dataset[len(dataset) - 1]
    assert label == IDENTITIES - 1 and image.dtype == np.uint8 and image.shape == (112, 112, 3)
    assert np.array_equal(image, cv2.cvtColor(cv2.imread(str(expected[-1][0])), cv2.COLOR_BGR2RGB))


def test_image_folder_refuses_a_wrong_size_and_an_empty_identity(faces: Path) -> None:
    identity = sorted(faces.iterdir())[2]
    cv2.imwrite(str(identity / "zz_wide.png"), np.zeros((112, 120, 3), np.uint8))
    dataset = ImageFolderDataset(faces)
    index = next(i for i, (path, _) in enumerate(dataset.samples) if path.name == "zz_wide.png")
    with pytest.raises(TrainingDataError, match=r"zz_wide\.png: 120x112 pixels"):
        dataset[index]
    (faces / "Empty_Person").mkdir()
    with pytest.raises(TrainingDataError, match="Empty_Person: no images"):
        ImageFolderDataset(faces)


# --- Transform and loader ---------------------------------------------------------------------


def test_transform_flips_half_the_time_and_normalises() -> None:
    image = np.random.default_rng(0).integers(0, 256, (112, 112, 3), dtype=np.uint8)
    expected = (torch.from_numpy(image).permute(2, 0, 1).float() / 255 - 0.5) / 0.5
    outputs = [train_transform(image, torch.Generator().manual_seed(seed)) for seed in range(40)]
    flipped = [torch.equal(out, expected.flip(2)) for out in outputs]
    assert all(flip or torch.equal(out, expected) for out, flip in zip(outputs, flipped, strict=True))
    assert 5 < sum(flipped) < 35
    assert outputs[0].dtype == torch.float32 and outputs[0].shape == (3, 112, 112)


def test_the_loader_is_reproducible_for_a_seed_whatever_the_workers(packed: Path) -> None:
    dataset = RecordDataset(packed)
    runs = []
    for workers, seed in ((0, 3), (0, 3), (2, 3), (0, 4)):
        loader = build_train_loader(dataset, batch_size=8, workers=workers, seed=seed, rank=0, world_size=1)
        loader.sampler.set_epoch(1)
        runs.append(batches(loader))
    assert_same_batches(runs[0], runs[1])
    assert_same_batches(runs[0], runs[2])
    assert not all(torch.equal(a[1], b[1]) for a, b in zip(runs[0], runs[3], strict=True))
    assert len(runs[0]) == len(dataset) // 8 and all(len(labels) == 8 for _, labels in runs[0])


def test_epochs_shuffle_differently_and_the_global_generator_is_untouched(packed: Path) -> None:
    loader = build_train_loader(RecordDataset(packed), batch_size=4, workers=0, seed=0, rank=0, world_size=1)
    state = torch.get_rng_state()
    epochs = []
    for epoch in (0, 1):
        loader.sampler.set_epoch(epoch)
        epochs.append([index for _, index in loader.sampler])
        batches(loader)
    assert torch.equal(torch.get_rng_state(), state)
    assert epochs[0] != epochs[1] and sorted(epochs[0]) == sorted(epochs[1])


def test_two_ranks_see_disjoint_halves(packed: Path) -> None:
    dataset = RecordDataset(packed)
    shares = []
    for rank in (0, 1):
        loader = build_train_loader(dataset, batch_size=4, workers=0, seed=0, rank=rank, world_size=2)
        loader.sampler.set_epoch(2)
        shares.append([index for _, index in loader.sampler])
        assert len(batches(loader)) == len(dataset) // 2 // 4
    assert len(shares[0]) == len(shares[1]) == len(dataset) // 2
    assert not set(shares[0]) & set(shares[1])
    assert len(set(shares[0]) | set(shares[1])) == len(dataset) // 2 * 2


@pytest.mark.parametrize("world_size", [1, 2])
def test_resuming_at_batch_k_gives_the_rest_of_the_epoch(faces: Path, world_size: int) -> None:
    dataset = ImageFolderDataset(faces)
    whole = build_train_loader(
        dataset, batch_size=4, workers=0, seed=5, rank=world_size - 1, world_size=world_size
    )
    whole.sampler.set_epoch(3)
    uninterrupted = batches(whole)
    resumed = build_train_loader(
        dataset, batch_size=4, workers=0, seed=5, rank=world_size - 1, world_size=world_size
    )
    resumed.sampler.set_epoch(3, start_batch=2)
    assert len(resumed) == len(uninterrupted) - 2
    assert_same_batches(batches(resumed), uninterrupted[2:])
    with pytest.raises(ValueError, match="start_batch=99"):
        resumed.sampler.set_epoch(3, start_batch=99)
