"""What a cached detection or embedding depends on, hashed into the cache's config keys."""

from __future__ import annotations

import dataclasses
from typing import Any

from bench.assets.resolver import sha256_of
from bench.cache import config_key
from bench.config import BenchConfig
from bench.detectors import detector_entry
from bench.models import EmbedSettings, model_family
from bench.models.registry import alignment_template
from bench.quality.measured import MEASURED
from bench.runtime import Runtime

#: Bumped when the runner changes what it stores, so old entries are never misread.
FORMAT = 1


def detection_settings(config: BenchConfig, runtime: Runtime) -> dict[str, Any]:
    """What a cached detection depends on: the detector's name and options, the content of every
    weights file it loads, and the kind of device (GPU kernels round differently)."""
    weights = detector_entry(config.detector.name).weights(config.detector.options)
    return {
        "format": FORMAT,
        "detector": _without_paths(dataclasses.asdict(config.detector)),
        "detector_weights": [sha256_of(path) for path in weights],
        "detect_max_side": config.detect_max_side,
        # An image above the pixel limit is stored as a failure: a new limit must retry it.
        "max_image_pixels": config.dataset.max_image_pixels,
        "device": runtime.device.type,
    }


def detection_key(config: BenchConfig, runtime: Runtime) -> str:
    return config_key(detection_settings(config, runtime))


def score_settings(config: BenchConfig, runtime: Runtime) -> dict[str, Any]:
    """Everything that decides a face's embedding, and so a pair's score: the detection's
    settings, then which face is aligned and how it is embedded: the template's points and the
    family's input, not only their names, so a redefined template differs. A run logs these, and
    ``bench verify`` reuses a run's threshold only under the same."""
    family = model_family(config.model)
    settings = EmbedSettings.from_hardware(config.hardware, runtime.embed_batch_size)
    family.check(config.model, settings, runtime)  # before the run, not after its detections
    return {
        "detection": detection_settings(config, runtime),
        "selection": config.selection,
        "failure_policy": config.failure_policy,
        "fallback_crop_fraction": config.fallback_crop_fraction,
        "perturbation": dataclasses.asdict(config.perturbation) if config.perturbation.active else None,
        # The template as its points (below), so native and its own name share entries.
        "model": _without_paths({**dataclasses.asdict(config.model), "template": None}),
        "family": family.name,
        "template": alignment_template(config.model).key(),
        "input": dataclasses.asdict(family.input),
        "similarity": family.similarity,
        "model_weights": sha256_of(family.weights(config.model)),
        "precision": family.precision(config.model, settings, runtime),
    }


def embedding_key(config: BenchConfig, runtime: Runtime) -> str:
    """The cache's key of an embedding, stored with the quality signals measured as it was made
    (one row, so that no image has one without the other): ``score_settings``, the detection's
    part by its key, and which signals follow the embedding in its row."""
    settings = score_settings(config, runtime)
    measured = {"signals": MEASURED, "mirror_agreement": config.quality.mirror_agreement or config.model.flip}
    return config_key({**settings, "detection": config_key(settings["detection"]), "measured": measured})


def _without_paths(options: Any) -> Any:
    """``options`` without their ``path`` entries, at any depth: the weights' content stands for
    them, so an overwritten file misses the cache and a moved identical one still hits."""
    if isinstance(options, dict):
        return {key: _without_paths(value) for key, value in options.items() if key != "path"}
    return options
