"""The decision threshold ``bench verify`` takes from the MLflow store: the accuracy-maximising one
of a finished, unstressed run on the same data set whose scores were decided by the same settings
(``bench.pipeline.cache_keys.score_settings``: the detector, its options and the content of its
weights, the face's selection, the template, the model, its options and the content of its weights,
the precision, ...). A threshold measured under other settings sits on another scale of scores, so
none is taken then: the error names what differs and how to measure one."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bench.cache import canonical_json
from bench.config import BenchConfig
from bench.config.tracking_uri import mask_credentials
from bench.metrics import keys
from bench.tracking import flatten, run_keys


class NoThresholdError(LookupError):
    """The store has no run of these settings to take the threshold from."""


@dataclass(frozen=True)
class Threshold:
    value: float
    #: Where it comes from, for the printout.
    source: str


def lfw_threshold(config: BenchConfig, settings: Mapping[str, Any], overrides: Sequence[str]) -> Threshold:
    """The best threshold of the run scored with ``settings``: the one with the most pairs, then
    the latest. ``overrides`` (the verifier's) make the benchmark command the error suggests."""
    import mlflow
    from mlflow.entities import RunStatus

    mlflow.set_tracking_uri(config.tracking.uri)
    tags = {
        run_keys.MODEL_TAG: config.model.name,
        run_keys.DETECTOR_TAG: config.detector.name,
        run_keys.DATASET_TAG: config.dataset.name,
    }
    runs = mlflow.search_runs(
        experiment_names=[config.tracking.experiment],
        filter_string=run_keys.run_filter(
            run_keys.CLEAN_PARAMS, tags, RunStatus.to_string(RunStatus.FINISHED)
        ),
        order_by=[f"metrics.{keys.NUM_PAIRS} DESC", "attributes.start_time DESC"],
        output_format="list",
    )
    command = mask_credentials(_benchmark_command(config, overrides))
    where = f"in experiment {config.tracking.experiment!r} of {mask_credentials(config.tracking.uri)}"
    if not runs:
        raise NoThresholdError(
            f"no finished {config.dataset.name} run of model={config.model.name} "
            f"detector={config.detector.name} {where}: run `{command}` first (make bench does, "
            "for the defaults), or give threshold="
        )
    wanted = _flat(canonical_json(settings))
    logged = [run.data.params.get(run_keys.SCORE_SETTINGS_RUNTIME_PARAM) for run in runs]
    differences = [_differences(wanted, settings_json) for settings_json in logged]
    for run, differing in zip(runs, differences, strict=True):
        if not differing:
            pairs, dataset = int(run.data.metrics[keys.NUM_PAIRS]), run.data.tags[run_keys.DATASET_TAG]
            return Threshold(
                run.data.metrics[keys.BEST_THRESHOLD],
                f"LFW's best threshold in run {run.info.run_id} ({pairs} pairs of {dataset})",
            )
    # A run that records its settings, with the fewest differences: the easiest to match.
    nearest = min(range(len(runs)), key=lambda index: (logged[index] is None, len(differences[index])))
    raise NoThresholdError(
        f"none of the {len(runs)} finished {config.dataset.name} runs of model={config.model.name} "
        f"detector={config.detector.name} {where} was scored with these settings, and a threshold "
        f"holds only for the scores it was measured on. The nearest, run {runs[nearest].info.run_id}, "
        f"differs in {'; '.join(differences[nearest])}. Run `{command}` to measure one, or give threshold="
    )


#: What a setting that is a digest stands for.
_GLOSSES = {
    "model_weights": " (the sha256 of the model's weights file, model.path)",
    "detection.detector_weights": " (the sha256 of the detector's weights files)",
}


def _benchmark_command(config: BenchConfig, overrides: Sequence[str]) -> str:
    """``python -m bench`` with this model and detector and the verifier's other overrides."""
    named = {"model", "detector"}
    rest = [override for override in overrides if override.partition("=")[0] not in named]
    return " ".join(
        ["python -m bench", f"model={config.model.name}", f"detector={config.detector.name}", *rest]
    )


def _flat(settings_json: str) -> dict[str, Any]:
    return flatten(json.loads(settings_json))


def _differences(wanted: Mapping[str, Any], logged: str | None) -> list[str]:
    """Each setting whose value here differs from the run's, as ``name: here, there``."""
    if logged is None:
        return ["its score settings, which it does not record (it predates them)"]
    theirs = _flat(logged)
    return [
        f"{name}{_GLOSSES.get(name, '')}: {wanted.get(name)} here, {theirs.get(name)} in that run"
        for name in sorted(wanted.keys() | theirs.keys())
        if wanted.get(name) != theirs.get(name)
    ]
