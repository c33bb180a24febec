"""The detector interface: a batch of RGB images in, every face found out.

Landmark order (the one every detector must return, as the images show them):

    0 ``left_eye``     the eye on the image's left (the subject's right eye)
    1 ``right_eye``    the eye on the image's right
    2 ``nose``         the nose tip
    3 ``left_mouth``   the mouth corner on the image's left
    4 ``right_mouth``  the mouth corner on the image's right

A method that does not give all five returns the points it really measures with their names
(``POINT_NAMES``: MediaPipe's BlazeFace gives the ``mouth_center``, dlib's 5-point predictor the
``nose_base``); the aligner fits the matching subset of the template. A face
may have no landmarks at all (the centre-crop baseline): the aligner then crops its box.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

FIVE_POINTS: tuple[str, ...] = ("left_eye", "right_eye", "nose", "left_mouth", "right_mouth")
#: Every point a method may name: the five, the midpoint of the mouth corners, and the base of the
#: nose (subnasale), which is not the tip.
POINT_NAMES: tuple[str, ...] = (*FIVE_POINTS, "mouth_center", "nose_base")


@dataclass(frozen=True)
class Face:
    """One detected face in pixel coordinates of the image it came from.

    ``box`` is ``(x1, y1, x2, y2)``; ``landmarks`` is ``(K, 2)`` ``(x, y)`` rows named by
    ``landmark_names`` (``FIVE_POINTS`` unless the method gives fewer), or ``None``.
    """

    box: np.ndarray
    score: float
    landmarks: np.ndarray | None = None
    landmark_names: tuple[str, ...] = field(default=FIVE_POINTS)

    def __post_init__(self) -> None:
        object.__setattr__(self, "box", np.asarray(self.box, dtype=np.float32).reshape(4))
        if self.landmarks is not None:
            points = np.asarray(self.landmarks, dtype=np.float32).reshape(-1, 2)
            if len(points) != len(self.landmark_names):
                raise ValueError(
                    f"{len(points)} landmarks given for {len(self.landmark_names)} names "
                    f"{self.landmark_names}"
                )
            object.__setattr__(self, "landmarks", points)

    @property
    def width(self) -> float:
        return float(self.box[2] - self.box[0])

    @property
    def height(self) -> float:
        return float(self.box[3] - self.box[1])


class NoFaceError(ValueError):
    """An image in which a face was required and none was found (``failure_policy=error``, a
    photo given to ``bench verify``)."""


def check_images(images: Sequence[np.ndarray]) -> None:
    """Refuse what no method can read: a grey or RGBA array, or floats that would be mis-scaled."""
    for index, image in enumerate(images):
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(
                f"image {index} is {image.dtype} of shape {image.shape}; expected HxWx3 uint8 RGB"
            )


class Detector(ABC):
    """Finds faces. Each method registers a factory with ``bench.detectors.registry`` and
    implements ``_detect``; ``detect`` checks the input once for all of them.

    Images are ``HxWx3`` ``uint8`` RGB arrays; sizes may differ within a batch.
    """

    #: Registry name, set by ``create_detector``.
    name: str = ""
    #: The device the method actually runs on (``"cpu"``, ``"cuda:0"``), for the run record.
    device: str = "cpu"

    def detect(self, images: Sequence[np.ndarray]) -> list[list[Face]]:
        """Return, for each image, every face found (possibly none), best score first."""
        check_images(images)
        return self._detect(images)

    @abstractmethod
    def _detect(self, images: Sequence[np.ndarray]) -> list[list[Face]]:
        """``detect`` on images already checked: the method's own work."""

    def close(self) -> None:  # noqa: B027 (an optional hook, not abstract)
        """Release what the method holds outside Python's memory (threads, native tasks);
        nothing by default. The detector must not be used afterwards."""

    def describe(self) -> dict[str, str]:
        """What actually ran, logged with the run (backend, device, weights file...)."""
        return {"detector": self.name, "detector_device": self.device}
