"""One evaluation sharded over several jobs: each shard computes its share into a store of its
own, and the merge evaluates once every shard is in, with the unsharded run's pair scores bit
for bit; a merge that finds a shard missing says which and computes nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from bench.config import ConfigValueError
from bench.metrics import keys
from bench.pipeline import BenchmarkResult, BenchmarkRunner
from bench.pipeline.records import ImageStatus
from bench.pipeline.shards import Sharding, ShardsIncompleteError
from bench.tracking import run_keys

from .cli import run_bench
from .cli import store as store
from .conftest import bench_config, run_benchmark

SUBSET = ("detector=yunet", "dataset.folds=[0]", "dataset.pairs_per_fold=20")


@pytest.fixture(scope="module")
def whole() -> BenchmarkResult:
    """The run unsharded, the reference every merge must equal."""
    return run_benchmark(*SUBSET, "cache=off")


def test_each_shard_takes_every_nth_image_and_the_shares_cover_the_run() -> None:
    shares = [Sharding(3, shard).share(10) for shard in range(3)]
    assert shares == [[0, 3, 6, 9], [1, 4, 7], [2, 5, 8]]
    assert Sharding().share(4) == [0, 1, 2, 3] and Sharding(3).share(4) == [0, 1, 2, 3]
    assert Sharding(3, 1).folder(Path("/c"), 1) == Path("/c/shards/1-of-3")
    assert Sharding(3).is_merge and not Sharding(3, 0).is_merge and Sharding(3, 0).is_shard


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (("dataset.num_shards=0",), "dataset.num_shards"),
        (("dataset.num_shards=2", "dataset.shard=2"), r"dataset.shard.*\[0, dataset.num_shards - 1 = 1\]"),
        (("dataset.shard=0",), r"dataset.shard.*needs dataset.num_shards > 1"),
        (("dataset.num_shards=2", "dataset.shard=0", "cache=off"), "must be on to shard a run"),
    ],
)
def test_a_shard_setting_out_of_range_is_refused(overrides: tuple[str, ...], message: str) -> None:
    with pytest.raises(ConfigValueError, match=message):
        bench_config(*overrides)


def run_shard(tmp_path: Path, shard: int, num_shards: int, *extra: str) -> None:
    config = bench_config(
        *SUBSET, f"cache.dir={tmp_path}", f"dataset.num_shards={num_shards}", f"dataset.shard={shard}", *extra
    )
    with BenchmarkRunner(config) as runner:
        result = runner.run_shard()
    assert result.share == Sharding(num_shards, shard).share(len(runner.entries.entries))
    assert result.metrics[keys.NUM_IMAGES_COMPUTED] == len(result.share)


def test_a_shards_runner_does_not_evaluate_its_share_as_the_whole(tmp_path: Path) -> None:
    config = bench_config(*SUBSET, f"cache.dir={tmp_path}", "dataset.num_shards=2", "dataset.shard=1")
    with BenchmarkRunner(config) as runner, pytest.raises(ValueError, match=r"dataset.shard=1 .*run_shard"):
        runner.run()


def merge(tmp_path: Path, num_shards: int) -> BenchmarkRunner:
    return BenchmarkRunner(bench_config(*SUBSET, f"cache.dir={tmp_path}", f"dataset.num_shards={num_shards}"))


def test_three_shards_and_their_merge_give_the_unsharded_scores_bit_for_bit(
    tmp_path: Path, whole: BenchmarkResult
) -> None:
    for shard in range(3):
        run_shard(tmp_path, shard, 3)
    assert sorted(path.name for path in (tmp_path / "shards").iterdir()) == ["0-of-3", "1-of-3", "2-of-3"]
    with merge(tmp_path, 3) as runner:
        merged = runner.run()
    np.testing.assert_array_equal(merged.scores, whole.scores)
    assert merged.metrics[keys.ACCURACY] == whole.metrics[keys.ACCURACY]
    assert merged.metrics[keys.NUM_IMAGES_COMPUTED] == 0  # everything came from the shards
    assert [record.status for record in merged.records] == [record.status for record in whole.records]
    assert all(record.status is ImageStatus.DETECTED for record in merged.records)


def test_a_merge_names_the_shards_that_are_not_in_and_computes_nothing(tmp_path: Path) -> None:
    run_shard(tmp_path, 0, 3)
    with pytest.raises(ShardsIncompleteError, match=r"no store of shard\(s\) 1, 2 in .*run dataset.shard=1"):
        merge(tmp_path, 3).__enter__()
    # Shard 1 ran with other settings: its store holds nothing this merge can use.
    run_shard(tmp_path, 1, 3, "detect_max_side=1024")
    run_shard(tmp_path, 2, 3)
    with merge(tmp_path, 3) as runner, pytest.raises(ShardsIncompleteError) as refused:
        runner.run()
    message = str(refused.value)
    assert "shard 1: " in message and "shard 0" not in message and "shard 2" not in message
    assert f"have no results in {tmp_path / 'shards' / '1-of-3'}" in message
    assert runner.timer.seconds["detect"] == 0 and runner.timer.seconds["embed"] == 0


def test_shards_as_a_sweep_and_their_merge_from_the_command_line(
    store: tuple[str, dict[str, str]], tmp_path: Path, whole: BenchmarkResult
) -> None:
    uri, env = store
    common = (*SUBSET, f"cache.dir={tmp_path / 'cache'}", "dataset.num_shards=2")
    shards = run_bench(*common, "dataset.shard=0,1", f"hydra.sweep.dir={tmp_path / 'shards'}", "-m", env=env)
    assert shards.returncode == 0, shards.stderr
    assert "shard 0 of 2" in shards.stdout and "shard 1 of 2" in shards.stdout
    merge = run_bench(*common, f"hydra.run.dir={tmp_path / 'merge'}", env=env)
    assert merge.returncode == 0, merge.stderr

    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("face-alignment")
    assert experiment is not None
    logged = client.search_runs([experiment.experiment_id])
    by_shard = {
        run.data.tags[run_keys.SHARD_TAG]: run for run in logged if run_keys.SHARD_TAG in run.data.tags
    }
    assert set(by_shard) == {"0/2", "1/2"}
    assert all(keys.ACCURACY not in run.data.metrics for run in by_shard.values())
    (merged_run,) = [
        run for run in logged if run.data.tags.get(run_keys.OUTPUT_DIR_TAG) == str(tmp_path / "merge")
    ]
    computed = sum(run.data.metrics[keys.NUM_IMAGES_COMPUTED] for run in by_shard.values())
    assert computed == merged_run.data.metrics[keys.NUM_IMAGES] > 0
    assert merged_run.data.metrics[keys.NUM_IMAGES_COMPUTED] == 0
    merged = pd.read_csv(tmp_path / "merge" / "pair_scores.csv")
    assert merged["score"].tolist() == [round(float(score), 6) for score in whole.scores]  # as written
