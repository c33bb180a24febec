"""Training input is never trusted: labels outside the identities, a checkpoint that would run
code when unpickled, and RecordIO files whose declared counts and lengths exceed the files."""

from __future__ import annotations

import builtins
import os
import random
import re
import resource
import struct
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
from mlflow.tracking import MlflowClient

from bench.assets import resolve
from bench.config.enums import TrainDataKind
from bench.config.training import TrainDataConfig
from bench.paths import project_root
from bench.training.checkpoint import checkpoint_dir, load_checkpoint, restore_random_states
from bench.training.distributed import Processes
from bench.training.recordio import MAGIC, IRHeader, RecordDataset, RecordIOError, RecordWriter, pack
from bench.training.sets import open_training_set
from bench.training.trainer import Trainer, run_training
from tests.test_training import SMALL, train_config

IDENTITIES = 4
IMAGES_PER_IDENTITY = 3
ONE_PROCESS = Processes(0, 1, 0, torch.device("cpu"))


@pytest.fixture(scope="module")
def faces() -> list[tuple[bytes, int]]:
    """Three reference-aligned LFW faces of each of four identities: encoded bytes and label."""
    folders = [
        folder for folder in sorted(resolve("lfw_aligned_112").iterdir()) if len(list(folder.iterdir())) >= 3
    ]
    return [
        (path.read_bytes(), label)
        for label, folder in enumerate(folders[:IDENTITIES])
        for path in sorted(folder.iterdir())[:IMAGES_PER_IDENTITY]
    ]


def write_set(
    prefix: Path,
    samples: list[tuple[bytes, float | list[float]]],
    header: tuple[float, float] | None = None,
    ids: Mapping[int, int] | None = None,
) -> Path:
    """``samples`` in insightface's layout (``pack_image_folder``'s), their labels as given;
    ``header`` replaces record 0's ``(first identity key, end key)``, ``ids`` the IRHeader id
    (the key) of the records it names."""
    first = len(samples) + 1
    end = first + IDENTITIES
    with RecordWriter(prefix) as writer:
        for key, (image, label) in enumerate(samples, start=1):
            writer.write(key, pack(IRHeader(0, label, (ids or {}).get(key, key), 0), image))
        writer.write(0, pack(IRHeader(0, list(header or (first, end)), 0, 0), b""))
        for identity, key in enumerate(range(first, end)):
            span = [1 + identity * IMAGES_PER_IDENTITY, 1 + (identity + 1) * IMAGES_PER_IDENTITY]
            writer.write(key, pack(IRHeader(0, span, key, 0), b""))
    return prefix


def recordio(prefix: Path) -> TrainDataConfig:
    return TrainDataConfig(kind=TrainDataKind.recordio, path=str(prefix), workers=0)


@contextmanager
def address_space_headroom(megabytes: int) -> Iterator[None]:
    """This process may map at most ``megabytes`` more while inside: an allocation of GiBs that a
    hostile file asks for fails at once with MemoryError instead of taking the machine's memory."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/status") as status:
        mapped_kib = next(int(line.split()[1]) for line in status if line.startswith("VmSize:"))
    resource.setrlimit(resource.RLIMIT_AS, (mapped_kib * 1024 + megabytes * 2**20, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


# --- Defect 6: labels outside [0, identities) ---------------------------------------------------


@pytest.mark.parametrize("bad_label", [float(IDENTITIES), -1.0, 2.5, float("nan")])
def test_a_label_outside_the_identities_is_refused_when_the_set_opens(
    faces: list[tuple[bytes, int]], tmp_path: Path, bad_label: float
) -> None:
    samples: list[tuple[bytes, float]] = [(image, float(label)) for image, label in faces]
    samples[6] = (samples[6][0], bad_label)  # key 7
    prefix = write_set(tmp_path / "train", samples)
    with pytest.raises(
        RecordIOError, match=rf"train\.rec: record 7 has label {bad_label}; .*\[0, {IDENTITIES}\)"
    ):
        open_training_set(recordio(prefix))


def test_a_run_on_a_set_with_an_unknown_label_stops_before_its_first_step(
    faces: list[tuple[bytes, int]], tmp_path: Path
) -> None:
    samples = [(image, float(label)) for image, label in faces]
    samples[-1] = (samples[-1][0], float(IDENTITIES + 3))
    prefix = write_set(tmp_path / "train", samples)
    config = train_config(
        "backbone=edgeface_xxs", "data=recordio", f"data.path={prefix}", "data.workers=0", "batch_size=4",
        "steps=1", "deterministic=true", "validation=[]", f"output_dir={tmp_path / 'run'}",
    )  # fmt: skip
    with pytest.raises(RecordIOError, match=rf"record {len(samples)} has label {IDENTITIES + 3}\.0"):
        run_training(config, ONE_PROCESS, lambda _step, _metrics: None)
    assert not (tmp_path / "run").exists()


def test_the_command_refuses_an_unknown_label_before_its_mlflow_run_opens(
    faces: list[tuple[bytes, int]], tmp_path: Path
) -> None:
    samples = [(image, float(label)) for image, label in faces]
    samples[0] = (samples[0][0], float(IDENTITIES))
    prefix = write_set(tmp_path / "train", samples)
    store = f"sqlite:///{tmp_path / 'mlruns.db'}"
    command = [
        sys.executable, "-m", "bench.train", "backbone=edgeface_xxs", "data=recordio", f"data.path={prefix}",
        "data.workers=0", "batch_size=4", "steps=1", "validation=[]", f"hydra.run.dir={tmp_path / 'run'}",
    ]  # fmt: skip
    environment = {**os.environ, "MLFLOW_TRACKING_URI": store}
    done = subprocess.run(command, cwd=project_root(), env=environment, capture_output=True, text=True)
    assert done.returncode != 0
    assert f"record 1 has label {IDENTITIES}.0" in done.stderr
    client = MlflowClient(store)
    assert client.search_runs([found.experiment_id for found in client.search_experiments()]) == []


def test_labels_are_read_across_the_split_of_a_record_holding_the_magic_number(
    faces: list[tuple[bytes, int]], tmp_path: Path
) -> None:
    """dmlc splits a payload at each magic number at a multiple of 4: here inside the IRHeader
    (an id of ``MAGIC``) and at the first label (a float with its bits), so the scan of the
    records' first bytes must rejoin the pieces as a whole read does."""
    samples: list[tuple[bytes, float | list[float]]] = [(image, float(label)) for image, label in faces]
    prefix = write_set(tmp_path / "split", samples, ids={3: MAGIC})
    assert (
        prefix.with_suffix(".rec").read_bytes().count(struct.pack("<I", MAGIC)) > len(faces) + IDENTITIES + 1
    )
    assert RecordDataset(prefix).labels.tolist() == [label for _, label in faces]

    magic_label = struct.unpack("<f", struct.pack("<I", MAGIC))[0]
    samples[4] = (samples[4][0], [magic_label, 0.0])
    prefix = write_set(tmp_path / "split_label", samples)
    with pytest.raises(RecordIOError, match=rf"record 5 has label {re.escape(str(magic_label))};"):
        RecordDataset(prefix)


# --- Defect 8: a checkpoint is data, never code ------------------------------------------------


class _RunsCode:
    """Unpickles as a call to ``exec``: what a crafted ``rank0.pt`` can hold."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return builtins.exec, (f"open({str(self.marker)!r}, 'w').close()",)


def test_a_checkpoint_that_would_run_code_is_refused_unopened(tmp_path: Path) -> None:
    directory = checkpoint_dir(tmp_path, 3)
    directory.mkdir(parents=True)
    marker = tmp_path / "code-ran"
    torch.save({"world_size": 1, "step": 3, "payload": _RunsCode(marker)}, directory / "rank0.pt")
    with pytest.raises(
        ValueError, match=rf"resume: {re.escape(str(directory / 'rank0.pt'))}: .*not a checkpoint"
    ):
        load_checkpoint(directory, rank=0, world_size=1)
    assert not marker.exists()


def test_a_genuine_checkpoint_loads_as_data_and_restores_every_generator(tmp_path: Path) -> None:
    trainer = Trainer(train_config(*SMALL, f"output_dir={tmp_path}"), ONE_PROCESS)
    directory = trainer.save(tmp_path)
    draws = (random.random(), np.random.random(), torch.rand(()).item())
    restore_random_states(torch.load(directory / "rank0.pt", weights_only=True)["random"])
    assert (random.random(), np.random.random(), torch.rand(()).item()) == draws
    state = load_checkpoint(directory, rank=0, world_size=1)
    assert state["step"] == 0 and state["backbone"].keys() == trainer.backbone.state_dict().keys()


# --- Defect 15: declared counts and lengths beyond the files -----------------------------------


@pytest.mark.parametrize(
    ("header", "declared"),
    [
        ((2e9, 2e9 + 512), "1999999999 images and 512 identities"),  # images beyond the .idx
        ((13, 2e9), "12 images and 1999999987 identities"),  # identities beyond the .idx
        ((13, 3e38), f"12 images and {int(np.float32(3e38)) - 13} identities"),  # beyond 64 bits
    ],
)
def test_a_header_declaring_more_records_than_the_index_holds_is_refused_before_allocating(
    faces: list[tuple[bytes, int]], tmp_path: Path, header: tuple[float, float], declared: str
) -> None:
    prefix = write_set(tmp_path / "train", [(image, float(label)) for image, label in faces], header)
    holds = len(faces) + 1 + IDENTITIES
    with (
        address_space_headroom(256),
        pytest.raises(
            RecordIOError, match=rf"train\.rec: record 0 declares {declared}, .*train\.idx holds {holds} keys"
        ),
    ):
        open_training_set(recordio(prefix))


@pytest.mark.parametrize("key", [0, 1], ids=["header record", "image record"])
def test_a_record_longer_than_the_rest_of_the_file_is_refused_before_reading(
    tmp_path: Path, key: int
) -> None:
    """Record 0 is read whole for the header; the others' labels by the scan of their first bytes."""
    longest = (1 << 29) - 1  # the largest length an lrecord can declare: 512 MiB
    image = struct.pack("<IIIfQQ", MAGIC, 24, 0, 0.0, 0, 0)  # an image record without an image
    bomb = struct.pack("<II", MAGIC, longest) + b"\0" * 16
    records = [bomb, image] if key == 0 else [image, bomb]
    (tmp_path / "bomb.rec").write_bytes(b"".join(records))
    (tmp_path / "bomb.idx").write_text(f"0\t0\n1\t{len(records[0])}\n")
    size, at = len(bomb) + len(image), 0 if key == 0 else len(image)
    with (
        address_space_headroom(256),
        pytest.raises(
            RecordIOError,
            match=rf"bomb\.rec: truncated: .*\({size} bytes\): it declares {longest} bytes at offset {at}, "
            rf"{size - at - 8} follow",
        ),
    ):
        RecordDataset(tmp_path / "bomb")


def test_an_index_number_beyond_64_bits_names_its_line(tmp_path: Path) -> None:
    (tmp_path / "huge.rec").write_bytes(struct.pack("<II", MAGIC, 0))
    (tmp_path / "huge.idx").write_text("0\t0\n1\t" + "9" * 30 + "\n")
    with pytest.raises(RecordIOError, match=r"huge\.idx:2: expected 'key<TAB>offset'"):
        RecordDataset(tmp_path / "huge")
