"""``bench verify A.jpg B.jpg``: are two photos the same person? The inference example.

    bench verify A.jpg B.jpg [detector=yunet] [model=edgeface_xs_gamma_06] [threshold=0.32]

Each photo is decoded, its face detected (the run's selection rule picks one) and aligned to the
model's template at its input size, and embedded; the two embeddings' similarity (the model
family's: cosine, or minus dlib's Euclidean distance) is compared with a threshold.
Unless ``threshold=`` is given, it is the accuracy-maximising threshold that a benchmark run of
the same model, template, detector and flip setting measured on LFW, read from the MLflow store
(``tracking.uri``): the run with the most pairs, then the latest. ``make bench`` logs one for
the defaults. A photo without a face is an error, not a centre crop.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.alignment import BatchAligner
from bench.cli import compose_config
from bench.config import BenchConfig, to_bench_config
from bench.data import ImageDecodeError, decode_image
from bench.detectors import NoFaceError, select_face
from bench.metrics import keys
from bench.models import create_embedder, model_family
from bench.models.registry import alignment_template
from bench.models.similarity import similarity_named
from bench.pipeline.face_source import FaceFinder, RunContext, face_finder
from bench.pipeline.timing import StageTimer
from bench.runtime import Runtime


class NoThresholdError(LookupError):
    """The store has no LFW run to take the threshold from."""


@dataclass(frozen=True)
class Threshold:
    value: float
    #: Where it comes from, for the printout.
    source: str


def lfw_threshold(config: BenchConfig) -> Threshold:
    """The best threshold measured by a finished, unstressed run of this configuration's model,
    template, detector, flip setting and data set (LFW; its aligned faces with ``detector=none``): the run
    with the most pairs, then the latest."""
    import mlflow
    from mlflow.entities import RunStatus

    from bench.tracking import run_keys

    mlflow.set_tracking_uri(config.tracking.uri)
    tags = {
        run_keys.MODEL_TAG: config.model.name,
        run_keys.DETECTOR_TAG: config.detector.name,
        run_keys.DATASET_TAG: config.dataset.name,
    }
    params = {**run_keys.CLEAN_PARAMS, run_keys.MODEL_FLIP_PARAM: config.model.flip}
    if isinstance(config.model.template, str):
        params[run_keys.MODEL_TEMPLATE_PARAM] = config.model.template
    runs = mlflow.search_runs(
        experiment_names=[config.tracking.experiment],
        filter_string=run_keys.run_filter(params, tags, RunStatus.to_string(RunStatus.FINISHED)),
        order_by=[f"metrics.{keys.NUM_PAIRS} DESC", "attributes.start_time DESC"],
        max_results=1,
        output_format="list",
    )
    if not runs:
        raise NoThresholdError(
            f"no finished {config.dataset.name} run of model={config.model.name} "
            f"detector={config.detector.name} (model.flip={config.model.flip}) in experiment "
            f"{config.tracking.experiment!r} of {config.tracking.uri}: run `python -m bench "
            f"model={config.model.name} detector={config.detector.name}` first (make bench does, "
            "for the defaults), or give threshold="
        )
    run = runs[0]
    pairs, dataset = int(run.data.metrics[keys.NUM_PAIRS]), run.data.tags[run_keys.DATASET_TAG]
    return Threshold(
        run.data.metrics[keys.BEST_THRESHOLD],
        f"LFW's best threshold in run {run.info.run_id} ({pairs} pairs of {dataset})",
    )


def aligned_faces(paths: Sequence[Path], config: BenchConfig, runtime: Runtime) -> np.ndarray:
    """Each photo's selected face aligned to the model's template, found by the run's face source
    (one detector for both photos; aligned photos pass as they are with ``detector=none``)."""
    # Two faces: OpenCV's warp, a numpy array back.
    size = model_family(config.model).input.size
    aligner = BatchAligner("cpu", size=size, template=alignment_template(config.model))
    one_detector = dataclasses.replace(runtime, detect_workers=1)  # not a pool for two photos
    finder = face_finder(RunContext(config, None, one_detector, StageTimer(), aligner))
    try:
        return np.concatenate([_aligned_face(path, config, finder) for path in paths])
    finally:
        finder.close()


def _aligned_face(path: Path, config: BenchConfig, finder: FaceFinder) -> np.ndarray:
    image = decode_image(path, path.parent, config.dataset.max_image_pixels)
    face = select_face(finder.find([image], [str(path)])[0], image.shape, config.selection)
    if face is None:
        raise NoFaceError(f"{path}: detector={config.detector.name} found no face")
    return np.asarray(finder.align([image], [face]))


def main(argv: Sequence[str] | None = None) -> None:
    arguments = list(sys.argv[1:] if argv is None else argv)
    photos: list[Path] = []
    given: list[str] = []
    overrides: list[str] = []
    for argument in arguments:
        key, assigned, value = argument.partition("=")
        if not assigned:
            photos.append(Path(argument))
        elif key == "threshold":
            given.append(value)
        else:
            overrides.append(argument)
    if len(photos) != 2:
        raise SystemExit("usage: bench verify A.jpg B.jpg [threshold=T] [detector=...] [model=...]")
    config = to_bench_config(compose_config(["progress=false", *overrides]))
    try:
        threshold = Threshold(float(given[-1]), "given") if given else lfw_threshold(config)
        runtime = Runtime.from_config(config.hardware, config.pipeline)
        faces = aligned_faces(photos, config, runtime)
    except (NoThresholdError, NoFaceError, ImageDecodeError, ValueError) as error:
        raise SystemExit(f"bench verify: {error}") from None
    embedder = create_embedder(config.model, runtime, precision=config.hardware.precision)
    similarity = similarity_named(model_family(config.model).similarity)
    score = float(similarity.rows(*embedder.embed(faces)[:, None])[0])
    decision = "the same person" if score >= threshold.value else "different people"
    print(f"{photos[0]} vs {photos[1]} ({config.detector.name}, {config.model.name})")
    print(f"{similarity.label} {score:.4f}, threshold {threshold.value:.4f} ({threshold.source}): {decision}")
