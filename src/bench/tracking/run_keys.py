"""The names a run is logged under in MLflow: its artifact files, parameters and tags.

A job's run is written by ``bench.experiment`` and ``bench.tracking.artifacts`` and read back by
name: by a sweep's report (``bench.tracking.sweep``) and by ``bench verify``'s search for a
threshold. A name spelled twice could drift apart, and a renamed file would then go missing
without a word, so every writer and reader takes its names from here. Metric keys live in
:mod:`bench.metrics.keys`.
"""

from __future__ import annotations

from collections.abc import Mapping

from bench.config import Perturbation, StressCondition

# -- artifacts of a job's run ----------------------------------------------------------------------
#: Every metric, NaN kept as null (MLflow is sent no NaN).
METRICS_FILE = "metrics.json"
#: Each pair's score, label and whether both faces were detected.
PAIR_SCORES_FILE = "pair_scores.csv"
#: Every image that was not detected, and why.
FAILURES_FILE = "failures.csv"
#: One row per image: its quality signals (``bench.quality``).
QUALITY_FILE = "quality.csv"
MEMORY_TRACE_FILE = "memory_trace.csv"
#: Each image's five points, for the alignment-tolerance report.
LANDMARKS_FILE = "landmarks.npz"
ROC_FILE = "roc.png"
#: The sample faces as a picture, and as arrays for a sweep's faces-by-method grid.
FACE_GRID_FILE = "aligned_faces.png"
ALIGNED_FACES_FILE = "aligned_faces.npz"
#: IJB-B/C runs, which score template pairs instead of ``PAIR_SCORES_FILE``.
IJB_REPORT_FILE = "ijb_report.md"
TAR_AT_FAR_FILE = "ijb_tar_at_far.csv"
TEMPLATE_SCORES_FILE = "template_scores.npz"

# -- tags of a job's run ---------------------------------------------------------------------------
DETECTOR_TAG = "detector"
MODEL_TAG = "model"
DATASET_TAG = "dataset"
#: The protocol that scored the run (``bench.pipeline.protocols``: ``pairs`` or ``templates``).
PROTOCOL_TAG = "protocol"
#: A shard's job (``dataset.shard``): ``"K/N"``; it has no protocol, its merge evaluates.
SHARD_TAG = "shard"
OUTPUT_DIR_TAG = "hydra_output_dir"
#: The job's Hydra overrides (a sweep's parent: the sweep's).
OVERRIDES_TAG = "overrides"
#: A sweep's jobs and its parent run share its id; a job's number orders the report.
SWEEP_ID_TAG = "sweep_id"
JOB_NUMBER_TAG = "job_number"

# -- tags of a sweep's parent run ------------------------------------------------------------------
SWEEP_DIR_TAG = "sweep_dir"
#: Prefix of a skipped job's tag (``<prefix><job number>``: its overrides and why).
SKIPPED_JOB_TAG = "skipped_job_"
BEST_METHOD_TAG = "best_method"
#: What stopped a run that ended KILLED.
ENDED_BY_TAG = "bench.ended_by"

# -- parameters: the job's config, flattened (``detector.name``) -----------------------------------
DETECTOR_PARAM = "detector.name"
MODEL_PARAM = "model.name"
MODEL_TEMPLATE_PARAM = "model.template"
DATASET_PARAM = "dataset.name"
FOLDS_PARAM = "dataset.folds"
PAIRS_PER_FOLD_PARAM = "dataset.pairs_per_fold"
STRESS_PARAM = "stress.name"
STRESS_SIDES_PARAM = "stress.sides"
STRESS_SEVERITY_PARAM = "stress.severity"
PERTURBATION_PARAM = "perturbation.kind"
PERTURBATION_MAGNITUDE_PARAM = "perturbation.magnitude"
#: Every ``stress.*`` parameter (an ``fnmatch`` pattern): what a stress sweep varies.
STRESS_PARAMS = "stress.*"
#: Every ``model.*`` parameter: what a sweep over recognition models varies.
MODEL_PARAMS = "model.*"
#: Prefix of what the run found out about itself (threads, weights files, versions).
RUNTIME_PARAM_PREFIX = "runtime."
#: The template a run aligned to, resolved (``native`` named), and its model's native one.
TEMPLATE_RUNTIME_PARAM = f"{RUNTIME_PARAM_PREFIX}model_template"
NATIVE_TEMPLATE_RUNTIME_PARAM = f"{RUNTIME_PARAM_PREFIX}model_template_native"
#: Everything that decided the run's scores (``bench.pipeline.cache_keys.score_settings``) as
#: canonical JSON: ``bench verify`` takes a threshold only from a run scored as it scores.
SCORE_SETTINGS_RUNTIME_PARAM = f"{RUNTIME_PARAM_PREFIX}score_settings"
#: Parameters (``fnmatch`` patterns) that differ between jobs without being what a sweep compares.
INCIDENTAL_PARAMS = (
    f"{RUNTIME_PARAM_PREFIX}*",  # follows from the config
    "tracking.*",
    "hydra.*",
    "cache.dir",
    "progress",
    "*seed",
    "*run_dir",
    "*output_dir",
)
#: The parameters of a run on unaltered images and landmarks.
CLEAN_PARAMS: Mapping[str, str] = {
    STRESS_PARAM: StressCondition.none,
    PERTURBATION_PARAM: Perturbation.none,
}


def run_filter(
    params: Mapping[str, object] | None = None,
    tags: Mapping[str, str] | None = None,
    status: str | None = None,
) -> str:
    """An MLflow search filter for the runs with these parameter and tag values (and status);
    names are back-quoted, as a parameter's dots would otherwise end it."""
    clauses = [f"params.`{name}` = '{value}'" for name, value in (params or {}).items()]
    clauses += [f"tags.`{name}` = '{value}'" for name, value in (tags or {}).items()]
    if status is not None:
        clauses.append(f"attributes.status = '{status}'")
    return " and ".join(clauses)
