"""A sweep logged to a real MLflow tracking server, as ``make server`` + ``tracking=server`` run
it: runs, metrics and the comparison report all go over HTTP, artifacts through the server."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

from bench.tracking.mlflow_store import TrackingServerUnreachableError, check_tracking_server

from .conftest import compose_config
from .mlflow_server import Sweep, free_port, run_sweep
from .mlflow_server import mlflow_server as mlflow_server  # the fixture

DETECTORS = ("yunet", "mediapipe_detection")
PARENT_ARTIFACTS = {"comparison.csv", "comparison.md", "dashboard.png", "roc_overlay.png"}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def sweep(mlflow_server: str, tmp_path_factory: pytest.TempPathFactory) -> Sweep:
    """One two-job sweep through the CLI, shared by this module's checks (about 50 s)."""
    return run_sweep(
        mlflow_server,
        tmp_path_factory.mktemp("sweep"),
        f"detector={','.join(DETECTORS)}",
        "dataset.folds=[0]",
        "dataset.pairs_per_fold=20",
    )


def test_server_config_points_at_make_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    assert compose_config(["tracking=server"]).tracking.uri == "http://127.0.0.1:5001"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://tracking.example:8080")
    assert compose_config(["tracking=server"]).tracking.uri == "http://tracking.example:8080"


def test_every_job_is_a_finished_child_of_one_parent(sweep: Sweep) -> None:
    assert sweep.parent.info.status == "FINISHED"
    assert [run.data.params["detector.name"] for run in sweep.children] == list(DETECTORS)
    for number, child in enumerate(sweep.children):
        assert child.info.status == "FINISHED"
        assert child.data.tags[MLFLOW_PARENT_RUN_ID] == sweep.parent.info.run_id
        assert child.data.tags["job_number"] == str(number)
        assert child.data.tags["sweep_id"] == sweep.children[0].data.tags["sweep_id"]
        assert 0.5 <= child.data.metrics["accuracy"] <= 1.0
        assert child.data.metrics["images_per_s"] > 0


def test_artifacts_go_through_the_server(sweep: Sweep, tmp_path: Path) -> None:
    client = MlflowClient(sweep.uri)
    parent_id = sweep.parent.info.run_id
    # Proxied artifacts: clients hold no local path, the server stores and serves the files.
    assert sweep.parent.info.artifact_uri.startswith("mlflow-artifacts:")
    assert {info.path for info in client.list_artifacts(parent_id)} >= PARENT_ARTIFACTS
    dashboard = Path(client.download_artifacts(parent_id, "dashboard.png", str(tmp_path)))
    assert dashboard.read_bytes()[:8] == PNG_MAGIC
    comparison = Path(client.download_artifacts(parent_id, "comparison.csv", str(tmp_path))).read_text()
    assert all(detector in comparison for detector in DETECTORS)
    for child in sweep.children:
        assert {info.path for info in client.list_artifacts(child.info.run_id)} >= {"roc.png", "metrics.json"}


def test_check_passes_a_running_server_and_local_stores(mlflow_server: str, tmp_path: Path) -> None:
    check_tracking_server(mlflow_server)
    check_tracking_server(f"{mlflow_server}/")
    check_tracking_server(f"sqlite:///{tmp_path / 'absent' / 'mlruns.db'}")  # local: nothing to reach


def test_check_refuses_a_port_without_a_server() -> None:
    uri = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(TrackingServerUnreachableError, match="make server") as raised:
        check_tracking_server(uri)
    assert uri in str(raised.value) and "tracking=mlflow" in str(raised.value)


def test_check_gives_up_on_a_server_that_never_answers() -> None:
    # A listening socket nobody accepts on: the connection opens, no answer ever comes.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        uri = f"http://127.0.0.1:{silent.getsockname()[1]}"
        start = time.monotonic()
        with pytest.raises(TrackingServerUnreachableError, match=uri):
            check_tracking_server(uri, timeout_s=0.5)
        assert time.monotonic() - start < 5
