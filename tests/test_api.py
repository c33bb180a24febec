"""The library API: UnifiedFaceDetector and list_available."""

from __future__ import annotations

import numpy as np
import pytest

from bench.api import UnifiedFaceDetector, list_available
from bench.detectors import list_detectors


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


def test_list_available_reports_every_method() -> None:
    report = {entry.name: entry for entry in list_available()}
    assert set(report) == set(list_detectors())
    assert report["yunet"].available and report["mtcnn"].available and report["yunet"].reason == ""


def test_list_available_says_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    from bench.detectors.yunet import YuNetDetector

    monkeypatch.setattr(YuNetDetector, "required_packages", ("no_such_package",))
    entry = next(entry for entry in list_available() if entry.name == "yunet")
    assert not entry.available and "no_such_package" in entry.reason
