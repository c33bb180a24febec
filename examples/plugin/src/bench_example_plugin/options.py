"""The options of ``detector=example_dlib_hog``: the schema its YAML is checked against. Light on
purpose: bench imports it at start-up, before Hydra composes a config."""

from __future__ import annotations

from dataclasses import dataclass

from bench.config.validate import require
from bench.detectors.options import option_key


@dataclass
class DlibHogOptions:
    #: Times the image is doubled before detection: 1 finds faces down to about 40 pixels.
    upsample: int = 1
    #: The SVM margin below which a window is no face (dlib's ``adjust_threshold``).
    score_threshold: float = 0.0
    #: An explicit ``shape_predictor_5_face_landmarks.dat``; ``None``: the packaged one.
    path: str | None = None

    def __post_init__(self) -> None:
        require(self.upsample >= 0, option_key("upsample"), "must be >= 0", self.upsample)
