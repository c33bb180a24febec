"""The detector contract, checked once for every registered method (in the manner of timm's
``test_models.py``): the real models on real LFW images, each built once.

What every detector promises (``bench.detectors.base``): a batch of ``HxWx3`` RGB images in,
one list of ``Face`` per image out, best score first, each face with a ``(4,)`` float box inside
its image, a float score and ``(K, 2)`` landmarks named from the documented points (the five
of ``FIVE_POINTS``, BlazeFace's four with ``mouth_center``, none for the baselines); an empty
batch gives ``[]``; a face-less image gives no face; a batch gives what its images give one by
one; ``describe()`` says what ran. Options are the dataclass registered beside the method's code
and are bound by name. Method-specific behaviour (decoding, backend agreement, reference
comparisons, particular options) stays in each method's own test file.

Every method and each of its backends runs here, except those whose weights are not on this
machine (``bench.api.list_available``), which are skipped saying what is missing; a missing
Python package is a failure, not a skip.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import subprocess
import sys
from collections.abc import Iterator

import cv2
import numpy as np
import pytest

from bench.api import list_available
from bench.config import FaceSource
from bench.detectors import (
    FIVE_POINTS,
    Detector,
    Face,
    create_detector,
    detector_entry,
    list_detectors,
    select_face,
)
from bench.detectors.center_crop import CenterCropOptions, center_box
from bench.detectors.registry import DEFAULT_BACKEND
from bench.runtime import Runtime

from .conftest import CONF_DIR
from .landmark_checks import assert_landmark_order, assert_same_faces

#: The baseline: it does not look at the pixels, it says where the face is assumed to be.
BASELINE = "center_crop"
#: The landmark names each method gives (``FIVE_POINTS`` unless listed).
LANDMARK_NAMES: dict[str, tuple[str, ...] | None] = {
    "mediapipe_detection": ("left_eye", "right_eye", "nose", "mouth_center"),
    "dlib_hog": ("left_eye", "right_eye", "nose_base"),
    "dlib_mmod": ("left_eye", "right_eye", "nose_base"),
    BASELINE: None,
}
#: Methods whose scores are not probabilities but positive, unbounded values in their own units
#: (dlib's HOG: the SVM margin above its threshold; MMOD: the CNN's detection confidence).
UNBOUNDED_SCORES = {"dlib_hog", "dlib_mmod"}
#: The lowest score of the selected face on the six frontal LFW faces, per method or case (0.5
#: unless listed). Measured minima: retinaface and mtcnn 0.99, yunet 0.92, mediapipe (BlazeFace's
#: box scores, which the mesh keeps) 0.90, BlazeFace full range 0.75, yolov5_face 0.82,
#: yolov8_face 0.79, dlib_hog's margin 0.48, dlib_mmod's confidence 1.01.
MIN_LFW_SCORE: dict[str, float] = {
    "retinaface": 0.9,
    "mtcnn": 0.9,
    "yunet": 0.8,
    "mediapipe_detection": 0.8,
    "mediapipe_detection-full_range": 0.7,
    "mediapipe_mesh": 0.8,
    "yolov5_face": 0.6,
    "yolov8_face": 0.5,
    "dlib_hog": 0.4,
    "dlib_mmod": 0.9,
}
#: Batch against one-by-one, for every method: boxes and landmarks (px), scores. Measured on the
#: batch below, with one thread and with two: every method and backend bit-identical (MediaPipe
#: and OpenCV included) but MTCNN with one thread, 1.5e-5 px (torch kernels on a stack of two
#: images against one); no method needs a tolerance of its own.
BATCH_PIXEL_TOL, BATCH_SCORE_TOL = 1e-3, 1e-4
#: One thread everywhere: the results below must be reproducible to the last bit.
RUNTIME = Runtime.local("cpu", threads=1)


def _case_id(name: str, backend: str) -> str:
    return name if backend == DEFAULT_BACKEND else f"{name}-{backend}"


def _detects(name: str) -> bool:
    """Whether ``name`` builds a detector: not a face source that looks at no pixels (``none``'s
    aligned images, ``given``'s landmarks of the data set: tests/test_pipeline.py and
    tests/test_ijb_runs.py run those)."""
    return detector_entry(name).source is FaceSource.detected


def _cases() -> Iterator[object]:
    """One ``(name, backend)`` per method and backend that builds a detector; skipped only when
    weights are missing."""
    for row in list_available():
        if row.kind != "detector" or not _detects(row.name):
            continue
        marks = []
        if not row.available:
            packages = detector_entry(row.name).backend_requirements()[row.backend].packages
            if all(importlib.util.find_spec(package) is not None for package in packages):
                marks.append(pytest.mark.skip(reason=f"{_case_id(row.name, row.backend)}: {row.reason}"))
        yield pytest.param((row.name, row.backend), id=_case_id(row.name, row.backend), marks=marks)


CASES = list(_cases())


@pytest.fixture(scope="module", params=CASES)
def case(request: pytest.FixtureRequest) -> tuple[str, str]:
    return request.param


@pytest.fixture(scope="module")
def detector(case: tuple[str, str]) -> Iterator[Detector]:
    """The method with its default options (and the backend asked for), built once per module."""
    name, backend = case
    made = create_detector(name, RUNTIME, **detector_entry(name).variant_overrides(backend))
    yield made
    made.close()


@pytest.fixture(scope="module")
def images(
    lfw_images: list[np.ndarray], multi_face_image: tuple[np.ndarray, tuple[float, float, float, float]]
) -> list[np.ndarray]:
    """The six LFW images (250x250), then the five-face canvas (500x500)."""
    return [*lfw_images, multi_face_image[0]]


@pytest.fixture(scope="module")
def found(detector: Detector, images: list[np.ndarray]) -> list[list[Face]]:
    return detector.detect(images)


# --- the registry (no model is loaded) --------------------------------------------------------


def test_importing_a_method_registers_nothing() -> None:
    """Registration is explicit (each module's ``register(registry)``, which ``bench.plugins``
    calls): a fresh process that imports every module of ``bench.detectors`` has no detector and
    no weights registered."""
    script = (
        "import importlib, pkgutil\n"
        "import bench.detectors as package\n"
        "from bench.assets import ASSETS\n"
        "from bench.detectors.registry import DETECTORS\n"
        "before = set(ASSETS)\n"
        "for info in pkgutil.iter_modules(package.__path__, 'bench.detectors.'):\n"
        "    importlib.import_module(info.name)\n"
        "assert not DETECTORS.names() and set(ASSETS) == before, (DETECTORS.names(), set(ASSETS) - before)\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True)


def test_every_registered_detector_has_its_yaml() -> None:
    assert set(list_detectors()) == {path.stem for path in (CONF_DIR / "detector").glob("*.yaml")}


@pytest.mark.parametrize("name", list_detectors())
def test_options_are_a_dataclass_with_valid_defaults(name: str) -> None:
    entry = detector_entry(name)
    assert entry.name == name and dataclasses.is_dataclass(entry.options)
    assert entry.default_backend in entry.requirements
    entry.options()  # the defaults pass the range checks


@pytest.mark.parametrize("name", [name for name in list_detectors() if _detects(name)])
def test_a_misspelt_option_names_itself_and_the_allowed_ones(name: str) -> None:
    allowed = ", ".join(field.name for field in dataclasses.fields(detector_entry(name).options)) or "none"
    expected = f"detector '{name}' has no option 'score_treshold'; its options are {allowed}"
    with pytest.raises(ValueError) as raised:
        create_detector(name, RUNTIME, score_treshold=0.5)
    assert str(raised.value) == expected


@pytest.mark.parametrize("name", [name for name in list_detectors() if not _detects(name)])
def test_a_face_source_builds_no_detector(name: str) -> None:
    entry = detector_entry(name)
    assert entry.factory is None and not entry.compared
    with pytest.raises(ValueError, match=f"detector={name} looks at no pixels: its faces are {entry.source}"):
        create_detector(name, RUNTIME)


def test_every_backend_is_a_case() -> None:
    registered = {
        (name, backend)
        for name in list_detectors()
        if _detects(name)
        for backend in detector_entry(name).requirements
    }
    assert {param.values[0] for param in CASES} == registered


# --- each method and backend on real images ----------------------------------------------------


def test_faces_are_well_formed(
    case: tuple[str, str], found: list[list[Face]], images: list[np.ndarray]
) -> None:
    name, _ = case
    names = LANDMARK_NAMES.get(name, FIVE_POINTS)
    assert isinstance(found, list) and len(found) == len(images)
    for image, faces in zip(images, found, strict=True):
        height, width = image.shape[:2]
        assert isinstance(faces, list) and faces, "no face found"
        assert all(isinstance(face, Face) for face in faces)
        scores = [face.score for face in faces]
        highest = np.inf if name in UNBOUNDED_SCORES else 1.0
        assert all(isinstance(score, float) and 0.0 < score <= highest for score in scores), scores
        assert scores == sorted(scores, reverse=True), "not best score first"
        for face in faces:
            assert face.box.shape == (4,) and face.box.dtype == np.float32
            x1, y1, x2, y2 = face.box
            assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height, face.box
            if names is None:
                assert face.landmarks is None
            else:
                assert face.landmark_names == names
                assert face.landmarks is not None and face.landmarks.shape == (len(names), 2)
                assert face.landmarks.dtype == np.float32 and np.isfinite(face.landmarks).all()


def test_lfw_faces_are_plausible(
    case: tuple[str, str], found: list[list[Face]], lfw_images: list[np.ndarray]
) -> None:
    """Real methods: the selected face of each frontal LFW image is central, face-sized,
    confident, its landmarks in the documented order. The baseline: the box it promises."""
    name, backend = case
    lowest_score = MIN_LFW_SCORE.get(_case_id(name, backend), MIN_LFW_SCORE.get(name, 0.5))
    for image, faces in zip(lfw_images, found[: len(lfw_images)], strict=True):
        height, width = image.shape[:2]
        if name == BASELINE:
            assert len(faces) == 1 and faces[0].score == 1.0
            np.testing.assert_array_equal(
                faces[0].box, center_box(height, width, CenterCropOptions().fraction)
            )
            continue
        face = select_face(faces, image.shape)
        assert face is not None
        centre = face.box.reshape(2, 2).mean(0)
        assert np.all(np.abs(centre - [width / 2, height / 2]) < 0.2 * np.array([width, height])), face.box
        assert 60 < face.width < 180 and 80 < face.height < 200, face.box
        assert face.score >= lowest_score, face.score
        assert_landmark_order(face)


def test_empty_batch(detector: Detector) -> None:
    assert detector.detect([]) == []


def test_blank_and_tiny_images(case: tuple[str, str], detector: Detector) -> None:
    """Uniform grey and a 4x7 image (smaller than any network's smallest face) hold no face;
    the baseline gives its box whatever the pixels."""
    grey = np.full((250, 250, 3), 128, dtype=np.uint8)
    tiny = np.zeros((4, 7, 3), dtype=np.uint8)
    found = detector.detect([grey, tiny])
    if case[0] == BASELINE:
        assert [len(faces) for faces in found] == [1, 1]
    else:
        assert found == [[], []]


def test_a_non_rgb_image_is_refused(detector: Detector) -> None:
    """``Detector.detect`` checks the input once for every method, the baseline included."""
    for image in (np.zeros((64, 64), dtype=np.uint8), np.zeros((64, 64, 3), dtype=np.float32)):
        with pytest.raises(ValueError, match="expected HxWx3 uint8 RGB"):
            detector.detect([image])


def test_batch_equals_singles(
    detector: Detector, images: list[np.ndarray], lfw_images: list[np.ndarray]
) -> None:
    """Mixed sizes in one batch: the LFW size, a stretched copy, the five-face canvas, a cut
    whose sides are not multiples of 32 (faces cut at the edges)."""
    batch = [
        lfw_images[1],
        cv2.resize(lfw_images[0], (400, 300), interpolation=cv2.INTER_LINEAR),
        images[-1],
        np.ascontiguousarray(images[-1][:257, :301]),
        lfw_images[2],
    ]
    for image, together in zip(batch, detector.detect(batch), strict=True):
        assert_same_faces(detector.detect([image])[0], together, BATCH_PIXEL_TOL, BATCH_SCORE_TOL)


def test_deterministic(detector: Detector, images: list[np.ndarray], found: list[list[Face]]) -> None:
    for again, first in zip(detector.detect(images), found, strict=True):
        assert_same_faces(again, first, tol=0.0, score_tol=0.0)


def test_describe_says_what_ran(case: tuple[str, str], detector: Detector) -> None:
    info = detector.describe()
    assert detector.name == case[0]
    assert info["detector"] == case[0] and info["detector_device"] == "cpu"
    assert all(isinstance(key, str) and isinstance(value, str) for key, value in info.items()), info
