"""What actually ran in a run, logged with it: device, threads, cache, stress, detector, model."""

from __future__ import annotations

from bench.cache import canonical_json
from bench.config import BenchConfig
from bench.cpu import cpu_info
from bench.models import Embedder, model_family
from bench.pipeline.cache_keys import score_settings
from bench.pipeline.face_source import FaceFinder
from bench.pipeline.result_cache import RunCache
from bench.runtime import Runtime
from bench.stress import Stress


def describe_run(
    config: BenchConfig,
    runtime: Runtime,
    cache: RunCache,
    stress: Stress,
    faces: FaceFinder,
    embedder: Embedder | None,
) -> dict[str, str]:
    """A model the cache made unnecessary is recorded as not loaded."""
    family = model_family(config.model)
    described = {
        "detector": config.detector.name,
        "model": config.model.name,
        "model_family": family.name,
        "model_template": faces.aligner.template.name,
        "model_template_native": family.template,
        "model_input_size": str(faces.aligner.size),
        "model_similarity": family.similarity,
        "pipeline": config.pipeline.name,
        "device": runtime.device_name,
        "cpu": str(cpu_info()),
        "workers_decode": str(runtime.decode_workers),
        "workers_detect": str(runtime.detect_workers),
        "workers_embed": str(runtime.embed_workers),
        "threads_detect": str(runtime.detect_threads),
        "threads_embed": str(runtime.embed_threads),
        "counts_from": runtime.counts_source,
        "cache": cache.describe(),
        # Logged as run_keys.SCORE_SETTINGS_RUNTIME_PARAM, for bench verify's choice of a threshold.
        "score_settings": canonical_json(score_settings(config, runtime)),
    }
    if runtime.note:
        described["device_choice"] = runtime.note
    described.update(stress.describe())
    described.update(faces.describe())
    if embedder is None:
        described["model_loaded"] = "false (every result came from the cache)"
    else:
        described.update(embedder.describe())
    return described
