"""Training EdgeFace (``python -m bench.train``): every config composes, a stopped run resumes to
the same weights, two ``torchrun`` processes take the steps of one, and the trained backbone
loads in the benchmark."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pytest
import torch

from bench.config import ConfigValueError
from bench.config.training import TrainConfig
from bench.models import create_embedder
from bench.paths import project_root
from bench.train import to_train_config
from bench.training.distributed import Processes
from bench.training.trainer import run_training
from tests.conftest import CONF_DIR, compose_config

#: A small, fast run: XXS from scratch on the 23 identities of the reference-aligned LFW with at
#: least 10 faces (259 images), deterministic, without validation.
SMALL = (
    "backbone=edgeface_xxs",
    "data.min_images=10",
    "data.workers=0",
    "batch_size=16",
    "steps=6",
    "log_every=1",
    "deterministic=true",
    "validation=[]",
)
GROUPS = ("backbone", "loss", "optimizer", "data")
#: Options that cannot compose alone.
REQUIRED = {("data", "folder"): ["data.path=/data/faces"], ("data", "recordio"): ["data.path=/data/train"]}


def train_config(*overrides: str) -> TrainConfig:
    return to_train_config(compose_config(["output_dir=.", *overrides], config_name="train"))


def train(output: Path, *overrides: str) -> Path:
    """One in-process run of ``SMALL`` with ``overrides`` into ``output``; its backbone file."""
    config = train_config(*SMALL, f"output_dir={output}", *overrides)
    result = run_training(config, Processes(0, 1, 0, torch.device("cpu")), lambda _step, _metrics: None)
    assert result.backbone_path is not None
    return result.backbone_path


@pytest.mark.parametrize(
    ("group", "option"),
    [(group, path.stem) for group in GROUPS for path in sorted((CONF_DIR / group).glob("*.yaml"))],
)
def test_every_training_option_becomes_a_typed_config(group: str, option: str) -> None:
    config = train_config(f"{group}={option}", *REQUIRED.get((group, option), []))
    assert isinstance(config, TrainConfig)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["loss.sample_rate=0"], r"loss\.sample_rate must lie in \(0, 1\]"),
        (["steps=10", "stop_after=11"], r"stop_after must lie in \[1, steps\]"),
        (["backbone.pretrained=true", "backbone.weights=x.pt"], "both name the starting weights"),
    ],
)
def test_bad_values_fail_before_anything_loads(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigValueError, match=message):
        train_config(*overrides)


def test_a_run_stopped_and_resumed_reaches_the_weights_of_one_never_stopped(tmp_path: Path) -> None:
    whole = torch.load(train(tmp_path / "whole"), weights_only=True)
    train(tmp_path / "first", "stop_after=3")
    resumed = torch.load(
        train(tmp_path / "second", f"resume={tmp_path / 'first' / 'checkpoints' / 'step_000003'}"),
        weights_only=True,
    )
    assert whole.keys() == resumed.keys()
    for name, value in whole.items():
        torch.testing.assert_close(resumed[name], value, rtol=0, atol=1e-6, msg=name)


def _run_module(arguments: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *arguments],
        capture_output=True,
        text=True,
        cwd=project_root(),
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        timeout=600,
    )


def test_two_torchrun_processes_take_the_steps_of_one(tmp_path: Path) -> None:
    """gloo on the CPU; each process has half the global batch and half the class centres."""
    common = [*SMALL, "steps=3", "deterministic=false"]
    two = _run_module(
        ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "bench.train",
         *common, "batch_size=8", f"hydra.run.dir={tmp_path / 'two'}"],
        tmp_path,
    )  # fmt: skip
    assert two.returncode == 0, two.stderr[-3000:]
    one = _run_module(
        ["-m", "bench.train", *common, "batch_size=16", f"hydra.run.dir={tmp_path / 'one'}"], tmp_path
    )
    assert one.returncode == 0, one.stderr[-3000:]
    backbones = [torch.load(tmp_path / run / "backbone.pt", weights_only=True) for run in ("one", "two")]
    for name, value in backbones[0].items():
        torch.testing.assert_close(backbones[1][name], value, rtol=1e-4, atol=1e-6, msg=name)
    shards = [
        torch.load(tmp_path / "two" / "checkpoints" / "step_000003" / f"rank{rank}.pt", weights_only=False)
        for rank in (0, 1)
    ]
    alone = torch.load(tmp_path / "one" / "checkpoints" / "step_000003" / "rank0.pt", weights_only=False)
    sharded = torch.cat([shard["head"]["weight"] for shard in shards])
    torch.testing.assert_close(sharded, alone["head"]["weight"], rtol=1e-4, atol=1e-6)
    # Only the first process logs: one run, with the loss of every step.
    client = mlflow.MlflowClient(os.environ["MLFLOW_TRACKING_URI"])
    runs = client.search_runs([client.get_experiment_by_name("edgeface-training").experiment_id])
    assert sorted(run.data.tags["world_size"] for run in runs) == ["1", "2"]
    for run in runs:
        assert run.info.status == "FINISHED"
        assert [point.step for point in client.get_metric_history(run.info.run_id, "loss")] == [1, 2, 3]


def test_the_trained_backbone_loads_in_the_benchmark(tmp_path: Path) -> None:
    backbone = train(tmp_path, "steps=2")
    embedder = create_embedder({"name": "edgeface_xxs", "path": str(backbone)}, backend="torch")
    faces = np.zeros((2, 112, 112, 3), dtype=np.uint8)
    assert embedder.embed(faces).shape == (2, 512)
