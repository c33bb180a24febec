"""A multirun as one MLflow parent run: every job's run is its child, and once the jobs are done
the children are compared in one report logged to the parent.

The parent is created in ``on_multirun_start``, before the launcher starts any job, so that the
experiment and the store's schema exist before parallel jobs open their runs (they never race to
create them). Its id reaches the jobs through the environment, which the in-process launcher
shares and subprocess launchers (joblib's loky workers, submitit, Slurm's default
``--export=ALL``) inherit.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from hydra.experimental.callback import Callback
from mlflow.entities import Metric, Run, RunStatus, RunTag
from mlflow.environment_variables import MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR
from mlflow.tracking import MlflowClient
from mlflow.tracking.context.registry import resolve_tags
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID
from omegaconf import DictConfig

from bench.config import ConfigValueError
from bench.config.tracking_uri import mask_credentials
from bench.reporting.comparison import varying_labels
from bench.signals import Handler, raise_on_sigterm, restore_sigterm
from bench.tracking import run_keys
from bench.tracking.mlflow_store import (
    TrackingServerUnreachableError,
    end_stale_runs,
    ensure_experiment,
    owner_tags,
)
from bench.tracking.protocol_reports import report_for, sweep_protocol
from bench.tracking.sweep_runs import SweepRuns, method_run

log = logging.getLogger(__name__)

PARENT_RUN_ENV = "BENCH_PARENT_RUN_ID"
SWEEP_ID_ENV = "BENCH_SWEEP_ID"


@dataclass(frozen=True)
class SweepContext:
    """The sweep a job belongs to: its run becomes a child of ``parent_run_id``."""

    parent_run_id: str
    sweep_id: str

    def job_tags(self, job_number: int) -> dict[str, str]:
        return {run_keys.SWEEP_ID_TAG: self.sweep_id, run_keys.JOB_NUMBER_TAG: str(job_number)}


def skip_job(sweep: SweepContext, uri: str, job_number: int, overrides: str, reason: str) -> None:
    """Record on the parent run (in the store at ``uri``) that this job was skipped, and why."""
    overrides = mask_credentials(overrides)
    log.warning("Job #%d (%s) skipped: %s", job_number, overrides, reason)
    MlflowClient(uri).set_tag(
        sweep.parent_run_id, f"{run_keys.SKIPPED_JOB_TAG}{job_number}", f"{overrides}: {reason}"
    )


def current_sweep() -> SweepContext | None:
    """The sweep that ``SweepTracker`` opened for this process's jobs, if any."""
    parent_run_id = os.environ.get(PARENT_RUN_ENV)
    sweep_id = os.environ.get(SWEEP_ID_ENV)
    if parent_run_id is None or sweep_id is None:
        return None
    return SweepContext(parent_run_id, sweep_id)


def child_runs(client: MlflowClient, parent: Run) -> list[Run]:
    """Every run whose parent is ``parent``, in job order."""
    query = run_keys.run_filter(tags={MLFLOW_PARENT_RUN_ID: parent.info.run_id})
    runs: list[Run] = []
    token = None
    while True:
        page = client.search_runs([parent.info.experiment_id], query, page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            return sorted(runs, key=lambda run: int(run.data.tags.get(run_keys.JOB_NUMBER_TAG, "-1")))


class SweepTracker(Callback):
    """Hydra callback (``hydra.callbacks`` in ``conf/config.yaml``): one parent run per multirun.

    A failed job does not stop the sweep (``run_experiment`` returns NaN for it once its run is
    FAILED); this callback counts it, still writes the report, and then exits non-zero. A sweep
    stopped by SIGTERM or Ctrl-C ends KILLED through :func:`end_open_sweep`, with the counts and
    the report of the jobs that ran.
    """

    #: The sweep this process has open, for :func:`end_open_sweep`: Hydra skips
    #: ``on_multirun_end`` when the sweep is stopped.
    open_sweep: ClassVar[SweepTracker | None] = None
    #: What SIGTERM did before the sweep (kept off the instance, which launchers pickle).
    previous_sigterm: ClassVar[Handler] = None

    def __init__(self) -> None:
        # Plain values only: launchers pickle the callbacks to their workers.
        self.uri = ""
        self.sweep_dir = ""
        self.parent: Run | None = None

    def on_multirun_start(self, config: DictConfig, **kwargs: object) -> None:
        uri = str(config.tracking.uri)
        try:
            experiment_id = ensure_experiment(str(config.tracking.experiment), uri)
        except (TrackingServerUnreachableError, ConfigValueError) as error:
            # Hydra would turn the exception into a warning and start every job regardless.
            sys.exit(f"Sweep: {error}")
        end_stale_runs(MlflowClient(uri), experiment_id)
        sweep_id = uuid.uuid4().hex[:8]
        tags = {
            run_keys.SWEEP_ID_TAG: sweep_id,
            run_keys.SWEEP_DIR_TAG: str(config.hydra.sweep.dir),
            run_keys.OVERRIDES_TAG: mask_credentials(" ".join(config.hydra.overrides.task)),
            **owner_tags(),
        }
        self.uri = uri
        self.sweep_dir = str(config.hydra.sweep.dir)
        self.parent = MlflowClient(uri).create_run(
            experiment_id, run_name=f"sweep-{sweep_id}", tags=resolve_tags(tags)
        )
        os.environ[PARENT_RUN_ENV] = self.parent.info.run_id
        os.environ[SWEEP_ID_ENV] = sweep_id
        # Between jobs too, and while the main process waits on joblib's workers (which it then
        # stops), SIGTERM must reach end_open_sweep rather than kill the process outright.
        SweepTracker.previous_sigterm = raise_on_sigterm()
        SweepTracker.open_sweep = self
        log.info(
            "Sweep %s: MLflow parent run %s in %s", sweep_id, self.parent.info.run_id, mask_credentials(uri)
        )

    def on_multirun_end(self, config: DictConfig, **kwargs: object) -> None:
        self.end(stopped_by=None)

    def end(self, stopped_by: str | None) -> None:
        """Count the jobs, write the report and end the parent run: KILLED if ``stopped_by`` (a
        signal) says the sweep was stopped, else FINISHED, or FAILED with a non-zero exit."""
        assert self.parent is not None, "on_multirun_start did not run"
        SweepTracker.open_sweep = None
        restore_sigterm(SweepTracker.previous_sigterm)
        client, parent_id = MlflowClient(self.uri), self.parent.info.run_id
        for name in (PARENT_RUN_ENV, SWEEP_ID_ENV):
            os.environ.pop(name, None)
        if stopped_by is not None:
            # Jobs on worker processes that were stopped outright left their runs RUNNING.
            end_stale_runs(client, self.parent.info.experiment_id)
        children = child_runs(client, self.parent)
        statuses = [run.info.status for run in children]
        failed = [run for run in children if run.info.status != RunStatus.to_string(RunStatus.FINISHED)]
        counts = {
            "jobs_total": len(children),
            "jobs_succeeded": statuses.count(RunStatus.to_string(RunStatus.FINISHED)),
            "jobs_failed": statuses.count(RunStatus.to_string(RunStatus.FAILED)),
            "jobs_killed": statuses.count(RunStatus.to_string(RunStatus.KILLED)),
            "jobs_skipped": sum(
                key.startswith(run_keys.SKIPPED_JOB_TAG) for key in client.get_run(parent_id).data.tags
            ),
        }
        now = int(time.time() * 1000)
        client.log_batch(parent_id, metrics=[Metric(key, value, now, 0) for key, value in counts.items()])
        reported = bool(children) and report(client, parent_id, children, Path(self.sweep_dir))
        if stopped_by is not None:
            client.set_tag(parent_id, run_keys.ENDED_BY_TAG, stopped_by)
            client.set_terminated(parent_id, RunStatus.to_string(RunStatus.KILLED))
            log.warning(
                "Sweep %s after %d of its jobs ran (%d finished); MLflow parent run %s is KILLED, report %s",
                stopped_by,
                len(children),
                counts["jobs_succeeded"],
                parent_id,
                "written" if reported else "missing",
            )
            return
        ok = reported and len(failed) < len(children)
        client.set_terminated(parent_id, RunStatus.to_string(RunStatus.FINISHED if ok else RunStatus.FAILED))
        # Hydra turns a callback's exception into a warning; SystemExit is what ends the process
        # non-zero, so that a partly failed sweep cannot pass unnoticed.
        if not children:
            sys.exit(
                f"Sweep: no job ran under MLflow parent run {parent_id} (is {PARENT_RUN_ENV} inherited?)"
            )
        if failed or not reported:
            lines = [
                f"Sweep: {len(failed)} of {len(children)} jobs failed, report "
                f"{'written' if reported else 'missing'}; MLflow parent run {parent_id}",
                *(f"  {run.info.run_name}: {run.data.tags.get(run_keys.OUTPUT_DIR_TAG)}" for run in failed),
            ]
            sys.exit("\n".join(lines))


def end_open_sweep(stopped_by: str) -> None:
    """End KILLED the sweep that this process has open, if any (see :class:`SweepTracker`)."""
    if SweepTracker.open_sweep is not None:
        SweepTracker.open_sweep.end(stopped_by)


def report(client: MlflowClient, parent_id: str, children: list[Run], out_dir: Path) -> bool:
    """Compare the children into ``out_dir`` and log the report to the parent; ``False`` (the
    error logged) if that fails, so that the parent still ends and the sweep still exits."""
    if not MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR.is_set():
        MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR.set(False)  # a bar per small file would bury the ranking
    # A shard's job evaluates nothing (bench.pipeline.shards): its merge is the run to compare.
    children = [run for run in children if run_keys.SHARD_TAG not in run.data.tags]
    if not children:
        log.info("Sweep: its jobs are shards; the run without dataset.shard evaluates them")
        return True
    try:
        protocol = report_for(sweep_protocol(children))
        labels = varying_labels([run.data.params for run in children], run_keys.INCIDENTAL_PARAMS)
        runs = [
            method_run(client, run, label, protocol.scores_file, protocol.read_scores)
            for run, label in zip(children, labels, strict=True)
        ]
        comparison, files = protocol.compare(SweepRuns(client, children, runs, out_dir))
        for path in files:
            client.log_artifact(parent_id, str(path))
        # The headline in the runs list: the winner, and how many pairs every method was scored on.
        ranked = comparison.table[comparison.table["rank"] == 1]
        client.log_batch(
            parent_id,
            metrics=[Metric("common_pairs", comparison.common_pairs, int(time.time() * 1000), 0)],
            tags=[RunTag(run_keys.BEST_METHOD_TAG, str(label)) for label in ranked["method"]],
        )
    except Exception:
        log.exception("Sweep: the comparison report failed")
        return False
    print(comparison.ranking)
    return True
