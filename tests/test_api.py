"""The library API: UnifiedFaceDetector, list_available and sweep_methods."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.api import Availability, UnifiedFaceDetector, list_available, sweep_methods
from bench.assets import ASSETS, resolve
from bench.assets import resolver as resolver_module
from bench.config import FaceSource, Selection
from bench.detectors import Requirements, detector_entry, list_detectors


def test_detect_faces_and_align(lfw_images: list[np.ndarray]) -> None:
    detector = UnifiedFaceDetector("yunet")
    boxes, landmarks = detector.detect_faces(lfw_images[0])
    assert boxes.shape[1:] == (4,) and landmarks.shape[1:] == (5, 2) and len(boxes) == len(landmarks) >= 1
    face = detector.align(lfw_images[0])
    assert face is not None and face.shape == (112, 112, 3) and face.dtype == np.uint8


def test_no_face_gives_empty_arrays_and_none() -> None:
    grey = np.full((200, 200, 3), 128, dtype=np.uint8)
    detector = UnifiedFaceDetector("yunet")
    boxes, landmarks = detector.detect_faces(grey)
    assert boxes.shape == (0, 4) and len(landmarks) == 0
    assert detector.align(grey) is None


def test_options_and_selection_reach_the_detector() -> None:
    detector = UnifiedFaceDetector("yunet", selection="largest", score_threshold=0.9, backend="opencv")
    assert detector.selection is Selection.largest
    assert detector.detector.describe()["detector_backend"].startswith("opencv")
    with pytest.raises(ValueError, match=r"detector 'yunet' has no option 'score_treshold'"):
        UnifiedFaceDetector("yunet", score_treshold=0.9)
    with pytest.raises(ValueError, match="'biggest' is not a valid Selection"):
        UnifiedFaceDetector("yunet", selection="biggest")


def _detector_rows() -> list[Availability]:
    return [row for row in list_available() if row.kind == "detector"]


def _rows() -> dict[tuple[str, str], Availability]:
    return {(row.name, row.backend): row for row in _detector_rows()}


def test_list_available_reports_every_method_and_backend() -> None:
    rows = _detector_rows()
    report = _rows()
    assert len(report) == len(rows), "one row per method and backend"
    assert {name for name, _ in report} == set(list_detectors())
    for name in list_detectors():
        backends = {str(backend) for backend in detector_entry(name).requirements}
        assert {backend for row_name, backend in report if row_name == name} == backends
        defaults = [row.backend for row in rows if row.name == name and row.default]
        assert defaults == [detector_entry(name).default_backend], name
    assert set(report) >= {("yunet", "onnxruntime"), ("yunet", "opencv"), ("mtcnn", "default")}
    assert report["yunet", "onnxruntime"].default and not report["yunet", "opencv"].default
    assert report["yolov8_face", "onnxruntime"].default and not report["yolov8_face", "ultralytics"].default
    for key in (("yunet", "onnxruntime"), ("yunet", "opencv"), ("mtcnn", "default")):
        assert report[key].available and report[key].reason == "", report[key]


def test_list_available_says_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    """One backend lacking a package: that row says so, the method's other backend still runs."""
    requirements = detector_entry("yunet").requirements
    monkeypatch.setitem(requirements, "opencv", Requirements(("yunet",), ("cv2", "no_such_package")))
    report = _rows()
    missing = report["yunet", "opencv"]
    assert not missing.available
    assert missing.reason == "Python package 'no_such_package' is not installed"
    assert report["yunet", "onnxruntime"].available


def test_sweeps_compare_the_methods_and_leave_out_the_face_sources_and_the_reference() -> None:
    methods = sweep_methods()
    assert {"yunet", "mtcnn", "center_crop"} <= set(methods)
    assert not {"none", "given", "reference"} & set(methods)
    assert not detector_entry("reference").compared
    assert detector_entry("reference").source is FaceSource.detected
    assert (detector_entry("none").source, detector_entry("given").source) == (
        FaceSource.aligned,
        FaceSource.given,
    )


#: Methods whose variants need different weights: asset -> (method, the variant that needs it).
VARIANT_OF = {
    "yolov8_face": ("yolov8_face", "onnxruntime"),
    "yolov8_face_ultralytics": ("yolov8_face", "ultralytics"),
    "mediapipe_face_detection_short_range": ("mediapipe_detection", "short_range"),
    "mediapipe_face_detection_full_range": ("mediapipe_detection", "full_range"),
}


@pytest.mark.parametrize(
    ("present", "absent"),
    [
        ("yolov8_face", "yolov8_face_ultralytics"),
        ("yolov8_face_ultralytics", "yolov8_face"),
        ("mediapipe_face_detection_short_range", "mediapipe_face_detection_full_range"),
        ("mediapipe_face_detection_full_range", "mediapipe_face_detection_short_range"),
    ],
)
def test_each_variant_needs_its_own_weights(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, present: str, absent: str
) -> None:
    """YOLOv8-face's onnxruntime backend runs the raw-head graph, its ultralytics backend the
    graph with the pose decode; BlazeFace's short- and full-range models are two files: with
    only one of the two found, only its variant is available, and the other row names the
    missing file."""
    placed = tmp_path / ASSETS[present].relpath
    placed.parent.mkdir(parents=True)
    placed.symlink_to(resolve(present, download=False))
    monkeypatch.setattr(resolver_module, "search_roots", lambda: [tmp_path])

    report = _rows()
    available, missing = report[VARIANT_OF[present]], report[VARIANT_OF[absent]]
    assert available.available and available.reason == ""
    assert not missing.available
    assert missing.reason.startswith(f"weights {ASSETS[absent].relpath} are not on this machine")
    assert ASSETS[present].relpath not in missing.reason
