"""Where a run's faces come from, one strategy per ``FaceSource``: the runner never asks a
method's name.

* ``DetectedFaces``: a registered method looks at the pixels (one instance per detection worker,
  loaded on first need); its faces are aligned to the template.
* ``AlignedInput`` (``detector=none``): each image already is an aligned face, passed through.
* ``GivenLandmarks`` (``detector=given``): the data set's five points and score (IJB's release);
  they are part of each image's cache key, as two identical crops may be given different points.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
import torch

from bench.alignment import BatchAligner
from bench.cache import bytes_digest
from bench.config import BenchConfig, ConfigValueError, FaceSource
from bench.data import Dataset, TemplateDataset
from bench.detectors import Detector, Face, create_detector, detector_entry
from bench.detectors.letterbox import faces_to_image, shrink_to
from bench.pipeline.detector_pool import DetectorPool
from bench.pipeline.timing import StageTimer
from bench.runtime import Runtime

#: What a detector is warmed up on before timing starts (first calls allocate and tune).
_WARMUP_IMAGE = np.full((256, 256, 3), 127, dtype=np.uint8)


@dataclass(frozen=True)
class RunContext:
    """What a face source may draw on."""

    config: BenchConfig
    #: ``None`` outside a run over a data set (``bench verify``'s photos).
    dataset: Dataset | None
    runtime: Runtime
    timer: StageTimer
    aligner: BatchAligner


class FaceFinder(ABC):
    source: FaceSource
    #: Whether the images reach the model as they are (no warp): the sample grid shows them so.
    passes_through: bool = False

    def __init__(self, context: RunContext) -> None:
        self.name = context.config.detector.name
        self.aligner = context.aligner

    @abstractmethod
    def find(self, images: list[np.ndarray], paths: list[str]) -> list[list[Face]]:
        """Every face of each image, best first."""

    def align(self, images: list[np.ndarray], faces: list[Face]) -> np.ndarray | torch.Tensor:
        return self.aligner.align(images, faces)

    def image_key(self, path: str, digest: str) -> str:
        """What an image's cached results are stored under: its content's digest by default."""
        return digest

    def load(self) -> None:  # noqa: B027 (an optional hook)
        """Load and warm up what ``find`` needs, outside the timed work."""

    def close(self) -> None:  # noqa: B027 (an optional hook)
        """Release what ``load`` built."""

    def describe(self) -> dict[str, str]:
        """No model looks at the pixels: nothing runs on a device."""
        return {"detector": self.name, "detector_source": self.source.value, "detector_device": "none"}


class DetectedFaces(FaceFinder):
    """A registered method on images no larger than ``detect_max_side``: a huge photo is shrunk
    for the detector only, its faces mapped back, and the face aligned from the full image."""

    source = FaceSource.detected

    def __init__(self, context: RunContext) -> None:
        super().__init__(context)
        self.options, self.runtime, self.timer = (
            context.config.detector.options,
            context.runtime,
            context.timer,
        )
        self.max_side = context.config.detect_max_side
        self._pool: DetectorPool | None = None

    @property
    def pool(self) -> DetectorPool:
        if self._pool is None:
            self._pool = DetectorPool(self._new_detector, self.runtime.detect_workers)
        return self._pool

    def _new_detector(self) -> Detector:
        with self.timer("load"):
            detector = create_detector(self.name, self.runtime, self.options)
        with self.timer("warmup"):
            detector.detect([_WARMUP_IMAGE])
        return detector

    def load(self) -> None:
        _ = self.pool

    def find(self, images: list[np.ndarray], paths: list[str]) -> list[list[Face]]:
        shrunk = [shrink_to(image, self.max_side) for image in images]
        with self.pool.lease() as detector:
            found = detector.detect([image for image, _ in shrunk])
        return [faces_to_image(faces, placement) for faces, (_, placement) in zip(found, shrunk, strict=True)]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
        self._pool = None

    def describe(self) -> dict[str, str]:
        if self._pool is None:
            described = {"detector_loaded": "false (every result came from the cache)"}
        else:
            described = self._pool.detectors[0].describe()
        return {**described, "detector_source": self.source.value}


class AlignedInput(FaceFinder):
    """The whole image is the face, and reaches the model untouched."""

    source = FaceSource.aligned
    passes_through = True

    def find(self, images: list[np.ndarray], paths: list[str]) -> list[list[Face]]:
        return [[Face(box=[0, 0, image.shape[1], image.shape[0]], score=1.0)] for image in images]

    def align(self, images: list[np.ndarray], faces: list[Face]) -> np.ndarray | torch.Tensor:
        size, template = self.aligner.size, self.aligner.template.name
        for image in images:
            if image.shape[:2] != (size, size):
                raise ValueError(
                    f"detector={self.name} passes images through unaligned, but one is "
                    f"{image.shape[1]}x{image.shape[0]}, not the {size}x{size} {template} crop the model "
                    "takes: use it only with a data set aligned for that model"
                )
        return np.stack(images) if images else np.empty((0, size, size, 3), np.uint8)


class GivenLandmarks(FaceFinder):
    """The data set's face for each image: its five points and score, the whole crop as box."""

    source = FaceSource.given

    def __init__(self, context: RunContext) -> None:
        super().__init__(context)
        assert isinstance(context.dataset, TemplateDataset)  # BenchConfig admits given on IJB only
        self.dataset = context.dataset

    def find(self, images: list[np.ndarray], paths: list[str]) -> list[list[Face]]:
        faces = []
        for image, path in zip(images, paths, strict=True):
            landmarks, score = self.dataset.given_landmarks(path)
            faces.append([Face(box=[0, 0, image.shape[1], image.shape[0]], score=score, landmarks=landmarks)])
        return faces

    def image_key(self, path: str, digest: str) -> str:
        landmarks, score = self.dataset.given_landmarks(path)
        return bytes_digest(f"{digest}\n{landmarks.tobytes().hex()}\n{score!r}".encode())


_FINDERS: dict[FaceSource, type[FaceFinder]] = {
    FaceSource.detected: DetectedFaces,
    FaceSource.aligned: AlignedInput,
    FaceSource.given: GivenLandmarks,
}


def face_finder(context: RunContext) -> FaceFinder:
    """The strategy the method's registered source names; a config that claims another source
    than the method registered is refused."""
    config = context.config
    registered = detector_entry(config.detector.name).source
    if config.detector.source is not registered:
        raise ConfigValueError(
            f"detector.source: {config.detector.name} registers its faces as {registered.value}, "
            f"not {config.detector.source.value}; leave detector.source unset"
        )
    return _FINDERS[registered](context)
