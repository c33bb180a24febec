"""MLflow: where runs go and how one run is opened."""

from __future__ import annotations

import base64
import logging
import socket
import traceback
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse, urlsplit, urlunsplit

import mlflow
import psutil
from mlflow.entities import Run, RunStatus
from mlflow.environment_variables import MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_ALREADY_EXISTS, ErrorCode
from mlflow.tracking import MlflowClient
from mlflow.utils.credentials import read_mlflow_creds

from bench.config import TrackingConfig
from bench.config.tracking_uri import check_tracking_uri, mask_credentials
from bench.signals import Terminated, sigterm_raises
from bench.tracking.run_keys import run_filter
from bench.tracking.store_setup import prepare_store

log = logging.getLogger(__name__)


def artifact_root_for(uri: str) -> str | None:
    """Beside a SQLite store, artifacts go to ``mlartifacts/`` next to the database file, so
    that a store and its artifacts move together and no job's cwd decides where they land.
    Servers and file stores pick their own artifact root (``None``)."""
    parsed = urlparse(uri)
    if parsed.scheme != "sqlite":
        return None
    database = Path(uri.removeprefix("sqlite:///"))
    return (database.parent / "mlartifacts").resolve().as_uri()


#: How long a tracking server has to answer before a run is opened: MLflow's own client retries
#: an unreachable server for about four minutes, without a word, before it fails.
SERVER_CHECK_TIMEOUT_S = 5.0


class TrackingServerUnreachableError(RuntimeError):
    """No tracking server answers at an http(s) ``tracking.uri``."""

    def __init__(self, uri: str, reason: object) -> None:
        super().__init__(
            mask_credentials(
                f"No MLflow tracking server answers at {uri} ({reason}). Start one with `make server` "
                "(http://127.0.0.1:5001, what tracking=server uses), or log to the local SQLite store "
                "with tracking=mlflow (and MLFLOW_TRACKING_URI unset)."
            )
        )


def health_request(uri: str) -> urllib.request.Request:
    """``GET /health`` of the server at ``uri``, with the basic-auth credentials MLflow's client
    sends: the URI's own (urllib alone would take them for part of the host name), else
    ``MLFLOW_TRACKING_USERNAME`` and ``MLFLOW_TRACKING_PASSWORD`` (or ``~/.mlflow/credentials``)."""
    parts = urlsplit(uri)
    address = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    request = urllib.request.Request(f"{address.rstrip('/')}/health")
    if parts.username or parts.password:  # as requests takes them, for MLflow's client
        user, password = unquote(parts.username or ""), unquote(parts.password or "")
    else:
        user, password = read_mlflow_creds()
        if not (user and password):  # MLflow sends its own only as a pair
            return request
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    return request


def check_tracking_server(uri: str, timeout_s: float = SERVER_CHECK_TIMEOUT_S) -> None:
    """Raise :class:`TrackingServerUnreachableError` at once if ``uri`` is an http(s) address where
    no server answers ``GET /health`` (what ``mlflow server`` serves) within ``timeout_s``, and
    ``ConfigValueError`` if ``uri`` is no valid URI (:func:`check_tracking_uri`).
    Any HTTP answer counts as reachable: what the server then refuses, MLflow reports itself.
    Other stores (SQLite, files) are local and not checked."""
    check_tracking_uri(uri)
    if urlparse(uri).scheme not in ("http", "https"):
        return
    try:
        with urllib.request.urlopen(health_request(uri), timeout=timeout_s):
            return
    except urllib.error.HTTPError:
        return
    except urllib.error.URLError as error:
        raise TrackingServerUnreachableError(uri, error.reason) from error
    except OSError as error:  # a timeout or a reset connection: not wrapped by urllib
        raise TrackingServerUnreachableError(uri, error) from error


def ensure_experiment(name: str, uri: str) -> str:
    """The experiment's id, created (with its artifact root) if it does not exist yet, and a new
    SQLite store with it (:func:`prepare_store`); an http(s) ``uri`` where no server answers fails
    at once (:func:`check_tracking_server`).

    Through a client, not the fluent API: a sweep's callback calls it too, and must leave the
    process-wide tracking URI and run state to the jobs that run in its process."""
    check_tracking_server(uri)
    if mask_credentials(uri) != uri and not MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT.is_set():
        # MLflow prints a link to each run it ends: the tracking URI, password and all.
        MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT.set(True)
    prepare_store(uri, artifact_root_for(uri))
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    try:
        return client.create_experiment(name, artifact_location=artifact_root_for(uri))
    except MlflowException as error:
        # Another process (a run or sweep started at the same time) created it since the look-up.
        if error.error_code != ErrorCode.Name(RESOURCE_ALREADY_EXISTS):
            raise
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise
        return experiment.experiment_id


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``: run parameters that the UI can compare."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


#: Which process owns a RUNNING run: a later start on this host can then tell that it died.
HOST_TAG, PID_TAG, PID_STARTED_TAG = "bench.host", "bench.pid", "bench.pid_started"


def owner_tags() -> dict[str, str]:
    """This process as the owner of a run it opens (the start time tells a reused PID apart)."""
    process = psutil.Process()
    return {
        HOST_TAG: socket.gethostname(),
        PID_TAG: str(process.pid),
        PID_STARTED_TAG: f"{process.create_time():.3f}",
    }


def _owner_alive(tags: Mapping[str, str]) -> bool:
    try:
        process = psutil.Process(int(tags[PID_TAG]))
        # A killed worker of ours stays a zombie until it is reaped: dead all the same.
        started = f"{process.create_time():.3f}"
        return started == tags.get(PID_STARTED_TAG) and process.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, ValueError):
        return False


def end_stale_runs(client: MlflowClient, experiment_id: str) -> list[str]:
    """End KILLED the RUNNING runs of this host whose process is gone (SIGKILL, out of memory, a
    power cut: nothing of theirs could end them), so that no run stays RUNNING for good. Runs of
    other hosts are left alone: their processes cannot be seen from here."""
    host = socket.gethostname()
    stale = [
        run.info.run_id
        for run in client.search_runs([experiment_id], run_filter(status="RUNNING"), max_results=1000)
        if run.data.tags.get(HOST_TAG) == host
        and PID_TAG in run.data.tags
        and not _owner_alive(run.data.tags)
    ]
    for run_id in stale:
        client.set_tag(run_id, "bench.ended_by", "a later start on this host: its process had died")
        client.set_terminated(run_id, RunStatus.to_string(RunStatus.KILLED))
    if stale:
        log.warning(
            "MLflow run(s) %s were RUNNING but their process had died: ended KILLED", ", ".join(stale)
        )
    return stale


@contextmanager
def tracked_run(
    tracking: TrackingConfig,
    run_name: str,
    params: Mapping[str, Any],
    tags: Mapping[str, str],
    parent_run_id: str | None = None,
) -> Iterator[Run]:
    """Open an MLflow run (a child of ``parent_run_id``, a sweep's run, when given) that ends
    FINISHED; KILLED on Ctrl-C or SIGTERM; FAILED, with the traceback as ``traceback.txt``, if
    the body raises. Results already cached stay cached, so a re-run resumes. Passwords in URIs
    among the parameters and tags (``tracking.uri``, a Hydra override) are masked."""
    uri = tracking.uri
    experiment_id = ensure_experiment(tracking.experiment, uri)
    end_stale_runs(MlflowClient(uri), experiment_id)
    mlflow.set_tracking_uri(uri)
    run = mlflow.start_run(
        experiment_id=experiment_id,
        run_name=run_name,
        tags={key: mask_credentials(value) for key, value in {**tags, **owner_tags()}.items()},
        parent_run_id=parent_run_id,
    )
    try:
        with sigterm_raises():
            mlflow.log_params({key: mask_credentials(str(value)) for key, value in params.items()})
            yield run
    except (KeyboardInterrupt, Terminated):
        mlflow.end_run(RunStatus.to_string(RunStatus.KILLED))
        raise
    except BaseException:
        mlflow.log_text(mask_credentials(traceback.format_exc()), "traceback.txt")
        mlflow.end_run(RunStatus.to_string(RunStatus.FAILED))
        raise
    mlflow.end_run(RunStatus.to_string(RunStatus.FINISHED))
