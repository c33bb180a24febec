"""The extra reports of a sweep over pairs of images: the stress report when it degraded images,
the alignment-tolerance curve when it ran ``detector=reference`` at several perturbations, the
detector x model matrix when it crossed detectors and models, and the template mismatch when it
varied ``model.template``. A sweep of several models gets a stress report and a tolerance curve
per model (``stress_<model>/``, ``tolerance_<model>/``): a curve compares detectors under one model."""

from __future__ import annotations

import hashlib
import logging
import re
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from mlflow.entities import Run, RunStatus
from mlflow.tracking import MlflowClient

from bench.config import Perturbation, StressCondition, StressSides
from bench.detectors.registry import DETECTORS
from bench.metrics import keys
from bench.models.registry import NATIVE
from bench.reporting.comparison import Comparison, MethodRun, compare_runs, matches_any, varying_labels
from bench.reporting.matrix import MatrixRun, matrix_report
from bench.reporting.quality import QualityRun, quality_report
from bench.reporting.stress import CLEAN, StressRun, stress_report
from bench.reporting.tolerance import LandmarkRun, is_unperturbed, read_landmarks, tolerance_report
from bench.tracking import run_keys
from bench.tracking.sweep_runs import SweepRuns, download

log = logging.getLogger(__name__)


def compare_pair_runs(sweep: SweepRuns) -> tuple[Comparison, list[Path]]:
    """The comparison with significance, and the stress, tolerance, matrix and template reports
    where they apply. A report per model is returned as its folder, which MLflow logs as one:
    its files keep their folder there too, where the same names would otherwise collide."""
    comparison = compare_runs(sweep.runs, out_dir=sweep.out_dir)
    files = list(comparison.files)
    params = [run.data.params for run in sweep.children]
    if _is_stress_sweep(params):
        files += _stress_reports(sweep.runs, params, sweep.out_dir)
    files += matrix_report(_matrix_runs(sweep.runs, params), sweep.out_dir)
    files += _tolerance_report(sweep.client, sweep.children, sweep.runs, sweep.out_dir)
    files += quality_report(_quality_runs(sweep.runs, params), sweep.out_dir)
    return comparison, files


def _model(params: Mapping[str, str]) -> str:
    return params.get(run_keys.MODEL_PARAM, "?")


def _per_model_folder(out_dir: Path, report: str, model: str) -> Path:
    """``<out_dir>/<report>_<model>``, the model's name kept to characters safe in a path."""
    return out_dir / f"{report}_{re.sub(r'[^A-Za-z0-9._-]', '_', model)}"


def _template(params: Mapping[str, str]) -> str:
    """The template a run aligned to: ``native`` when it was its model's own (whether the config
    said ``native`` or named it), else its name, as the run resolved them
    (``runtime.model_template``); for points given in the config, logged as their leaves
    (``model.template.size``, ``model.template.points.*``), ``custom-`` and a digest of them. A run
    from before the option aligned to its model's own template."""
    resolved = params.get(run_keys.TEMPLATE_RUNTIME_PARAM)
    leaves = sorted(
        (key, value) for key, value in params.items() if key.startswith(f"{run_keys.MODEL_TEMPLATE_PARAM}.")
    )
    if leaves:
        return f"custom-{hashlib.sha256(repr(leaves).encode()).hexdigest()[:8]}"
    if resolved is None:
        return params.get(run_keys.MODEL_TEMPLATE_PARAM, NATIVE)
    return NATIVE if resolved == params.get(run_keys.NATIVE_TEMPLATE_RUNTIME_PARAM) else resolved


def _matrix_runs(runs: list[MethodRun], params: list[dict[str, str]]) -> list[MatrixRun]:
    """The jobs on clean images and landmarks by detector, model and template: a stress or
    tolerance sweep's degraded jobs belong to their own reports, its clean ones to the matrix."""
    return [
        MatrixRun(own.get(run_keys.DETECTOR_PARAM, "?"), _model(own), _template(own), run)
        for run, own in zip(runs, params, strict=True)
        if all(own.get(key, value) == value for key, value in run_keys.CLEAN_PARAMS.items())
    ]


def _quality_runs(runs: list[MethodRun], params: list[dict[str, str]]) -> list[QualityRun]:
    """The finished jobs with their setting: what tells them apart besides the model, labelled
    as the sweep varies it (one setting for a sweep over models alone)."""
    ignored = (*run_keys.INCIDENTAL_PARAMS, run_keys.MODEL_PARAMS)
    settings = [
        tuple(sorted((key, value) for key, value in own.items() if not matches_any(key, ignored)))
        for own in params
    ]
    distinct = list(dict.fromkeys(settings))
    label = dict(zip(distinct, varying_labels([dict(setting) for setting in distinct], ignored), strict=True))
    return [
        QualityRun(run.label, _model(own), label[setting], run.metrics, run.pair_scores, run.quality)
        for run, own, setting in zip(runs, params, settings, strict=True)
        if run.finished
    ]


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


def _stress_reports(runs: list[MethodRun], params: list[dict[str, str]], out_dir: Path) -> list[Path]:
    """The stress report, or one per model (its folder, ``stress_<model>``) when the sweep varies
    the model: within one, methods are labelled by what else varies (the detector)."""
    models = list(dict.fromkeys(map(_model, params)))
    if len(models) < 2:
        return stress_report(_stress_runs(runs, params), out_dir)
    folders = []
    for model in models:
        jobs = [(run, own) for run, own in zip(runs, params, strict=True) if _model(own) == model]
        folder = _per_model_folder(out_dir, "stress", model)
        stress_report(_stress_runs([run for run, _ in jobs], [own for _, own in jobs]), folder)
        folders.append(folder)
    return folders


def _stress_runs(runs: list[MethodRun], params: list[dict[str, str]]) -> list[StressRun]:
    """The finished jobs of a stress sweep, labelled by method: what varies besides ``stress.*``."""
    ignored = (*run_keys.INCIDENTAL_PARAMS, run_keys.STRESS_PARAMS)
    methods = [
        tuple(sorted((key, value) for key, value in own.items() if not matches_any(key, ignored)))
        for own in params
    ]
    distinct = list(dict.fromkeys(methods))
    labels = varying_labels([dict(method) for method in distinct], ignored)
    if len(distinct) == 1:  # nothing tells methods apart (one model's report of one detector): its name
        labels = [dict(distinct[0]).get(run_keys.DETECTOR_PARAM, labels[0])]
    label = dict(zip(distinct, labels, strict=True))
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
    run_keys.MODEL_TEMPLATE_PARAM,
)


#: A reference run of a sweep: the child, its run as read back, its perturbation and its size.
_Reference = tuple[Run, MethodRun, str, float]


def _tolerance_report(
    client: MlflowClient, children: list[Run], runs: list[MethodRun], out_dir: Path
) -> list[Path]:
    """The alignment-tolerance curve when the sweep ran ``detector=reference`` (at several
    ``perturbation`` sizes), with each method's latest clean run on the same pairs as a point;
    one per model (its folder, ``tolerance_<model>``) when the sweep varies the model, as a
    model's tolerance is its own."""
    references: list[_Reference] = [
        (
            child,
            run,
            child.data.params.get(run_keys.PERTURBATION_PARAM, Perturbation.none),
            float(child.data.params.get(run_keys.PERTURBATION_MAGNITUDE_PARAM, 0.0)),
        )
        for child, run in zip(children, runs, strict=True)
        if child.data.params.get(run_keys.DETECTOR_PARAM) == "reference" and run.finished
    ]
    models = list(dict.fromkeys(_model(child.data.params) for child, *_ in references))
    if len(models) < 2:
        return _tolerance_curve(client, references, out_dir)
    folders = []
    for model in models:
        folder = _per_model_folder(out_dir, "tolerance", model)
        own = [reference for reference in references if _model(reference[0].data.params) == model]
        if _tolerance_curve(client, own, folder, f" of {model}"):
            folders.append(folder)
    return folders


def _tolerance_curve(
    client: MlflowClient, references: list[_Reference], out_dir: Path, of_model: str = ""
) -> list[Path]:
    """One model's curve and points into ``out_dir``; none without the unperturbed reference."""
    if not references:
        return []
    if not any(is_unperturbed(kind, magnitude) for _, _, kind, magnitude in references):
        log.warning(
            "Sweep: no reference run%s without perturbation (magnitude 0): no alignment-tolerance curve",
            of_model,
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
