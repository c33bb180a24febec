"""``bench verify A.jpg B.jpg``: are two photos the same person? The inference example.

    bench verify A.jpg B.jpg [detector=yunet] [model=edgeface_xs_gamma_06] [threshold=0.32]

Each photo is decoded, its face detected (the run's selection rule picks one) and aligned to the
model's template at its input size, and embedded; the two embeddings' similarity (the model
family's: cosine, or minus dlib's Euclidean distance) is compared with a threshold.
Unless ``threshold=`` is given (a score the similarity can reach), it is the accuracy-maximising
threshold of a finished LFW run in the MLflow store (``tracking.uri``) whose scores were decided
by the same settings: detector, options and weights, selection, template, model, options and
weights' content, precision (``bench.tracking.lfw_threshold``); of those, the run with the most
pairs, then the latest. ``make bench`` logs one for the defaults. A photo without a face is an
error, not a centre crop. A photo is the user's own file: a link is followed, and an argument
that names an existing file is a photo even with ``=`` in its name.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from hydra.errors import HydraException

from bench.alignment import BatchAligner
from bench.cli import compose_config
from bench.config import BenchConfig, ConfigValueError, to_bench_config
from bench.data import ImageDecodeError, decode_image
from bench.detectors import NoFaceError, select_face
from bench.models import create_embedder, model_family
from bench.models.registry import alignment_template
from bench.models.similarity import Similarity, similarity_named
from bench.pipeline.cache_keys import score_settings
from bench.pipeline.face_source import FaceFinder, RunContext, face_finder
from bench.pipeline.timing import StageTimer
from bench.runtime import Runtime
from bench.tracking.lfw_threshold import NoThresholdError, Threshold, lfw_threshold


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
    # The user's own file: a link is followed wherever it points (a data set's is not, see image_file).
    image = decode_image(path, Path(os.path.realpath(path)).parent, config.dataset.max_image_pixels)
    face = select_face(finder.find([image], [str(path)])[0], image.shape, config.selection)
    if face is None:
        raise NoFaceError(f"{path}: detector={config.detector.name} found no face")
    return np.asarray(finder.align([image], [face]))


def given_threshold(text: str, similarity: Similarity) -> Threshold:
    """``threshold=text`` as a score the similarity can reach, else a ``ValueError`` naming it."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"threshold={text} is not a number; give one in {similarity.interval}") from None
    if not math.isfinite(value):
        raise ValueError(f"threshold={text} is not a finite number; give one in {similarity.interval}")
    if not similarity.reaches(value):
        raise ValueError(
            f"threshold={text} is outside {similarity.interval}, the range of {similarity.label} scores, "
            "so it would decide every pair alike"
        )
    return Threshold(value, "given")


def main(argv: Sequence[str] | None = None) -> None:
    photos, thresholds, overrides = _split(list(sys.argv[1:] if argv is None else argv))
    if len(photos) != 2:
        raise SystemExit(
            "usage: bench verify A.jpg B.jpg [threshold=T] [detector=...] [model=...]; "
            f"got {len(photos)} photo(s): {' '.join(map(str, photos)) or 'none'}. {_SETTINGS_RULE}"
            f"{' '.join(overrides) or 'none'}"
        )
    config = _compose(overrides)
    try:
        similarity = similarity_named(model_family(config.model).similarity)
        runtime = Runtime.from_config(config.hardware, config.pipeline)
        if thresholds:
            threshold = given_threshold(thresholds[-1], similarity)
        else:
            threshold = lfw_threshold(config, score_settings(config, runtime), overrides)
        faces = aligned_faces(photos, config, runtime)
    except (NoThresholdError, NoFaceError, ImageDecodeError, ValueError) as error:
        raise SystemExit(f"bench verify: {error}") from None
    embedder = create_embedder(config.model, runtime, precision=config.hardware.precision)
    score = float(similarity.rows(*embedder.embed(faces)[:, None])[0])
    decision = "the same person" if score >= threshold.value else "different people"
    print(f"{photos[0]} vs {photos[1]} ({config.detector.name}, {config.model.name})")
    print(f"{similarity.label} {score:.4f}, threshold {threshold.value:.4f} ({threshold.source}): {decision}")


#: Why an argument was read as a setting, before the list of those that were.
_SETTINGS_RULE = (
    "An argument with '=' is a setting unless it names an existing file (a photo's path must); "
    "read as settings: "
)


def _split(arguments: list[str]) -> tuple[list[Path], list[str], list[str]]:
    """Photos, ``threshold=`` values and Hydra overrides. An existing file is a photo even with
    ``=`` in its name (``bush=2001.jpg``); any other argument with ``=`` is a setting."""
    photos: list[Path] = []
    thresholds: list[str] = []
    overrides: list[str] = []
    for argument in arguments:
        key, assigned, value = argument.partition("=")
        if not assigned or Path(argument).is_file():
            photos.append(Path(argument))
        elif key == "threshold":
            thresholds.append(value)
        else:
            overrides.append(argument)
    return photos, thresholds, overrides


def _compose(overrides: list[str]) -> BenchConfig:
    try:
        return to_bench_config(compose_config(["progress=false", *overrides]))
    except HydraException as error:
        raise SystemExit(f"bench verify: {error}\n{_SETTINGS_RULE}{' '.join(overrides)}") from None
    except ConfigValueError as error:
        raise SystemExit(f"bench verify: {error}") from None
