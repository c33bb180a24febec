"""The extra reports of a sweep over pairs of images: the stress report when it degraded images,
the alignment-tolerance curve when it ran ``detector=reference`` at several perturbations."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from mlflow.entities import Run, RunStatus
from mlflow.tracking import MlflowClient

from bench.config import Perturbation, StressCondition, StressSides
from bench.detectors.registry import DETECTORS
from bench.metrics import keys
from bench.reporting.comparison import Comparison, MethodRun, compare_runs, matches_any, varying_labels
from bench.reporting.stress import CLEAN, StressRun, stress_report
from bench.reporting.tolerance import LandmarkRun, is_unperturbed, read_landmarks, tolerance_report
from bench.tracking import run_keys
from bench.tracking.sweep_runs import SweepRuns, download

log = logging.getLogger(__name__)


def compare_pair_runs(sweep: SweepRuns) -> tuple[Comparison, list[Path]]:
    """The comparison with significance, and the stress and tolerance reports where they apply."""
    comparison = compare_runs(sweep.runs, out_dir=sweep.out_dir)
    files = list(comparison.files)
    params = [run.data.params for run in sweep.children]
    if _is_stress_sweep(params):
        files += stress_report(_stress_runs(sweep.runs, params), sweep.out_dir)
    files += _tolerance_report(sweep.client, sweep.children, sweep.runs, sweep.out_dir)
    return comparison, files


def _is_stress_sweep(params_per_run: Sequence[Mapping[str, str]]) -> bool:
    return any(
        params.get(run_keys.STRESS_PARAM, StressCondition.none) != StressCondition.none
        for params in params_per_run
    )


def _stress_condition(params: Mapping[str, str]) -> tuple[str, int]:
    """The condition and severity a job's logged parameters name (clean: ``(CLEAN, 0)``)."""
    name = params.get(run_keys.STRESS_PARAM, StressCondition.none)
    if name == StressCondition.none:
        return CLEAN, 0
    sided = " (one-sided)" if params.get(run_keys.STRESS_SIDES_PARAM) == StressSides.one else ""
    return f"{name}{sided}", int(params[run_keys.STRESS_SEVERITY_PARAM])


def _stress_runs(runs: list[MethodRun], params: list[dict[str, str]]) -> list[StressRun]:
    """The finished jobs of a stress sweep, labelled by method: what varies besides ``stress.*``."""
    ignored = (*run_keys.INCIDENTAL_PARAMS, run_keys.STRESS_PARAMS)
    methods = [
        tuple(sorted((key, value) for key, value in own.items() if not matches_any(key, ignored)))
        for own in params
    ]
    distinct = list(dict.fromkeys(methods))
    label = dict(zip(distinct, varying_labels([dict(method) for method in distinct], ignored), strict=True))
    return [
        StressRun(label[method], *_stress_condition(own), run.metrics, run.samples, run.pair_scores)
        for run, own, method in zip(runs, params, methods, strict=True)
        if run.finished
    ]


#: What a method's run must share with the reference runs for its landmarks to be compared.
_SAME_PAIRS = (
    run_keys.DATASET_PARAM,
    run_keys.FOLDS_PARAM,
    run_keys.PAIRS_PER_FOLD_PARAM,
    run_keys.MODEL_PARAM,
)


def _tolerance_report(
    client: MlflowClient, children: list[Run], runs: list[MethodRun], out_dir: Path
) -> list[Path]:
    """The alignment-tolerance curve when the sweep ran ``detector=reference`` (at several
    ``perturbation`` sizes), with each method's latest clean run on the same pairs as a point."""
    references = [
        (
            child,
            run,
            child.data.params.get(run_keys.PERTURBATION_PARAM, Perturbation.none),
            float(child.data.params.get(run_keys.PERTURBATION_MAGNITUDE_PARAM, 0.0)),
        )
        for child, run in zip(children, runs, strict=True)
        if child.data.params.get(run_keys.DETECTOR_PARAM) == "reference" and run.finished
    ]
    if not references:
        return []
    if not any(is_unperturbed(kind, magnitude) for _, _, kind, magnitude in references):
        log.warning(
            "Sweep: no reference run without perturbation (magnitude 0): no alignment-tolerance curve"
        )
        return []
    with tempfile.TemporaryDirectory() as tmp:
        curve = [
            LandmarkRun(
                run.label,
                run.metrics[keys.ACCURACY],
                *read_landmarks(download(client, child, run_keys.LANDMARKS_FILE, tmp)),
                kind,
                magnitude,
            )
            for child, run, kind, magnitude in references
        ]
        points = [
            LandmarkRun(
                method.data.params[run_keys.DETECTOR_PARAM],
                method.data.metrics[keys.ACCURACY],
                *read_landmarks(download(client, method, run_keys.LANDMARKS_FILE, tmp)),
            )
            for method in _methods_on_the_same_pairs(client, references[0][0])
        ]
    return tolerance_report(curve, points, out_dir)


def _methods_on_the_same_pairs(client: MlflowClient, reference: Run) -> list[Run]:
    """Per method, the latest finished clean run of the experiment on the reference's pairs and
    model that logged its landmarks."""
    same = {key: reference.data.params.get(key, "None") for key in _SAME_PAIRS}
    candidates = client.search_runs(
        [reference.info.experiment_id],
        run_keys.run_filter(same | run_keys.CLEAN_PARAMS, status=RunStatus.to_string(RunStatus.FINISHED)),
        order_by=["attributes.start_time DESC"],
    )
    latest: dict[str, Run] = {}
    for run in candidates:
        name = run.data.params.get(run_keys.DETECTOR_PARAM, "")
        if name in latest or (name in DETECTORS and not DETECTORS.get(name).compared):
            continue
        if run_keys.LANDMARKS_FILE in {info.path for info in client.list_artifacts(run.info.run_id)}:
            latest[name] = run
    return [latest[name] for name in sorted(latest)]
