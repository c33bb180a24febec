"""A new MLflow store survives its creation being raced or killed: real processes, real signals."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from bench.paths import project_root
from bench.tracking.store_setup import prepare_store

from .cli import start_bench as start_in_background

EXPERIMENT = "face-alignment"
SQLITE_HEADER = b"SQLite format 3\0"
#: Where a kill must land: MLflow (3.x) recovers from one while it creates its initial tables or
#: between two migrations, not from one within a migration. ``endpoints`` is the second table of the
#: migration that adds ``secrets`` and more (30-200 ms here): once its statement is in the file, the
#: one before has committed (a statement's pages reach the file before its commit does).
MIGRATION_STARTED = b"CREATE TABLE endpoints"
DEADLINE_S = 120.0

#: One first run: says it is ready, waits for ``go`` at its ``gate`` (its start, or its call to create
#: the experiment: after its look-up found none), then opens and ends a run.
RACER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from mlflow.tracking import MlflowClient
    from bench.config import TrackingConfig
    from bench.tracking.mlflow_store import tracked_run

    uri, ready, go, gate = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]

    def wait_for_go():
        ready.touch()
        while not go.exists():
            time.sleep(0.001)

    if gate == "start":
        wait_for_go()
    else:
        create_experiment = MlflowClient.create_experiment

        def gated(self, *args, **kwargs):
            wait_for_go()
            return create_experiment(self, *args, **kwargs)

        MlflowClient.create_experiment = gated
    config = TrackingConfig(uri=uri, experiment="face-alignment")
    with tracked_run(config, run_name=ready.name, params={}, tags={}):
        pass
    """
)


def uri_of(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'mlruns.db'}"


def runs_of(uri: str) -> list:
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    assert experiment is not None
    return client.search_runs([experiment.experiment_id])


def wait_until(
    condition: Callable[[], bool], processes: list[subprocess.Popen[str]], what: str, every_s: float = 0.01
) -> None:
    """Poll ``condition`` every ``every_s`` while all ``processes`` live, until a generous deadline."""
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        for process in processes:
            assert process.poll() is None, process.communicate()[1][-3000:]
        assert time.monotonic() < deadline, f"{what} did not happen in time"
        time.sleep(every_s)


@pytest.mark.parametrize("gate", ["start", "create_experiment"], ids=["new-store", "new-experiment"])
def test_first_runs_at_once_share_one_store(tmp_path: Path, gate: str) -> None:
    """Three first runs start at once on a new store; or all three, having found no experiment,
    create it at once (which real processes alone would seldom line up)."""
    uri, go = uri_of(tmp_path), tmp_path / "go"
    ready = [tmp_path / f"ready-{index}" for index in range(3)]
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, uri, str(flag), str(go), gate],
            cwd=project_root(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for flag in ready
    ]
    wait_until(lambda: all(flag.exists() for flag in ready), racers, "all racers getting ready")
    go.touch()
    for racer in racers:
        _, stderr = racer.communicate(timeout=DEADLINE_S)
        assert racer.returncode == 0, stderr[-3000:]
    runs = runs_of(uri)
    assert sorted(run.info.run_name for run in runs) == [flag.name for flag in ready]
    assert {run.info.status for run in runs} == {"FINISHED"}


def start_bench(tmp_path: Path, run_dir: str) -> subprocess.Popen[str]:
    overrides = ("dataset.folds=[0]", "dataset.pairs_per_fold=4", f"hydra.run.dir={tmp_path / run_dir}")
    return start_in_background(tmp_path, *overrides)


def store_within_a_migration(folder: Path) -> bool:
    """Whether a database in ``folder``, whatever its name, is within the migration above."""
    for path in folder.iterdir():
        try:
            content = path.read_bytes()
        except (FileNotFoundError, IsADirectoryError):  # renamed or removed meanwhile; a folder
            continue
        if content.startswith(SQLITE_HEADER) and MIGRATION_STARTED in content:
            return True
    return False


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_a_run_killed_while_creating_the_store_leaves_it_usable(tmp_path: Path, signum: int) -> None:
    first = start_bench(tmp_path, "first")
    # Every millisecond: the signal must land before that migration ends.
    wait_until(lambda: store_within_a_migration(tmp_path), [first], "the store's migrations", every_s=0.001)
    first.send_signal(signum)
    first.communicate(timeout=DEADLINE_S)
    assert first.returncode != 0

    second = start_bench(tmp_path, "second")
    _, stderr = second.communicate(timeout=300)
    assert second.returncode == 0, stderr[-3000:]
    (run,) = runs_of(uri_of(tmp_path))
    assert run.info.status == "FINISHED"


def test_an_existing_store_and_a_server_are_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # whatever a URI taken for a relative path made would land here
    database = tmp_path / "mlruns.db"
    database.write_bytes(b"not touched")
    prepare_store(f"sqlite:///{database}", (tmp_path / "mlartifacts").as_uri())
    assert database.read_bytes() == b"not touched"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["mlruns.db"]

    prepare_store("http://127.0.0.1:9", None)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["mlruns.db"]
