"""dlib's HOG and MMOD CNN face detectors, each with dlib's 5-point shape predictor.

The predictor gives five points: 0-1 the corners of the eye on the image's right, 2-3 those of
the eye on the image's left, 4 the base of the nose (subnasale), which is not the nose tip. A
face carries the three points these measure, ``left_eye`` and ``right_eye`` (each the mean of
its two corners, image left and right as ``base`` names them) and ``nose_base``; there is no
nose tip and no mouth, and none is made up: the aligner fits that subset of the template.

Boxes: a dlib rectangle is inclusive (``right()`` is the last column inside), so the box is
``(left, top, right + 1, bottom + 1)``, the exclusive box whose width is ``rect.width()``,
clipped to the image, which a face near its edge can overhang. The predictor is given dlib's own
rectangle, unclipped. Landmarks are dlib's whole-pixel points, as it gives them.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import dlib
import numpy as np

from bench.assets import resolve
from bench.detectors.base import Detector, Face
from bench.detectors.dlib import MMOD, MMOD_FILE, PREDICTOR, PREDICTOR_FILE
from bench.detectors.dlib.options import DlibHogOptions, DlibMmodOptions
from bench.runtime import Runtime

log = logging.getLogger(__name__)

#: The points kept, by the predictor's indices: eye corners averaged, the nose base as it is.
LANDMARK_NAMES: tuple[str, ...] = ("left_eye", "right_eye", "nose_base")
_LEFT_EYE, _RIGHT_EYE, _NOSE_BASE = (2, 3), (0, 1), 4
#: Upsampled pixels per call of the CNN's batch form. A call holds the activations of all its
#: images at once, about 60 MiB per million pixels (measured: 16 LFW images upsampled once, 920
#: MiB), and runs only 5-15 % faster than one image at a time on the CPU: 4 Mpx bounds a call to
#: about 250 MiB (16 LFW images, or 4 upsampled once).
MMOD_BATCH_PIXELS = 4_000_000
#: The CNN sees no face in an image whose shorter side, upsampled, is under this: it was trained
#: on 80x80 pixel boxes (an LFW face cropped to its box is found from about 58 pixels), and dlib
#: fails outright below 10 (its filters no longer fit the image).
MMOD_MIN_SIDE = 20


def landmarks(shape: dlib.full_object_detection) -> np.ndarray:
    """The ``LANDMARK_NAMES`` points of a 5-point shape, ``(3, 2)``."""
    points = np.array([(point.x, point.y) for point in shape.parts()], dtype=np.float32)
    return np.stack(
        [points[list(_LEFT_EYE)].mean(axis=0), points[list(_RIGHT_EYE)].mean(axis=0), points[_NOSE_BASE]]
    )


class _DlibDetector(Detector):
    """What both share: the 5-point predictor, the faces from dlib's rectangles, the CPU."""

    backend: str = ""

    def __init__(self, predictor_path: Path, runtime: Runtime, on_cuda: bool = False) -> None:
        if on_cuda:
            # dlib picks its CUDA device itself: the one it uses is recorded.
            self.device = f"cuda:{dlib.cuda.get_device()}"
        elif runtime.is_cuda:
            log.warning("dlib %s runs on the CPU; %s is not used by it", self.backend, runtime.device_name)
        self.predictor_path = predictor_path
        self.predictor = dlib.shape_predictor(str(predictor_path))

    def _faces(self, image: np.ndarray, found: Sequence[tuple[dlib.rectangle, float]]) -> list[Face]:
        height, width = image.shape[:2]
        faces = []
        for rect, score in sorted(found, key=lambda item: -item[1]):
            box = [rect.left(), rect.top(), rect.right() + 1, rect.bottom() + 1]
            faces.append(
                Face(
                    box=np.clip(box, 0, [width, height, width, height]),
                    score=float(score),
                    landmarks=landmarks(self.predictor(image, rect)),
                    landmark_names=LANDMARK_NAMES,
                )
            )
        return faces

    def describe(self) -> dict[str, str]:
        return {
            **super().describe(),
            "detector_backend": f"dlib {dlib.__version__} {self.backend} ({self.device})",
            "detector_weights": str(self.predictor_path),
        }


class DlibHogDetector(_DlibDetector):
    """HOG features and a linear SVM over an image pyramid (the model is compiled into dlib).

    The detector takes one image per call, so ``detect`` loops; scores are SVM margins.
    """

    backend = "HOG + linear SVM"

    def __init__(self, options: DlibHogOptions, runtime: Runtime) -> None:
        super().__init__(resolve(PREDICTOR, options.path), runtime)
        self.detector = dlib.get_frontal_face_detector()
        self.upsample, self.score_threshold = options.upsample, options.score_threshold

    def _detect(self, images: Sequence[np.ndarray]) -> list[list[Face]]:
        return [self._detect_one(np.ascontiguousarray(image)) for image in images]

    def _detect_one(self, image: np.ndarray) -> list[Face]:
        rects, scores, _ = self.detector.run(image, self.upsample, self.score_threshold)
        return self._faces(image, list(zip(rects, scores, strict=True)))


class DlibMmodDetector(_DlibDetector):
    """The MMOD CNN (``mmod_human_face_detector.dat``); scores are its detection confidences.

    Images of one size go through the net's batch form together (it refuses mixed sizes), the
    others one by one; both give the same faces. dlib's CPU build (``dlib-bin``) runs it on one
    thread; a CUDA build runs it on its GPU.
    """

    backend = "CNN MMOD"

    def __init__(self, options: DlibMmodOptions, runtime: Runtime) -> None:
        folder = Path(options.path).expanduser() if options.path else None
        model = resolve(MMOD, folder / MMOD_FILE if folder else None)
        predictor = resolve(PREDICTOR, folder / PREDICTOR_FILE if folder else None)
        super().__init__(predictor, runtime, on_cuda=dlib.DLIB_USE_CUDA)
        self.model_path = model
        self.net = dlib.cnn_face_detection_model_v1(str(model))
        self.upsample, self.score_threshold = options.upsample, options.score_threshold

    def _detect(self, images: Sequence[np.ndarray]) -> list[list[Face]]:
        # dlib reads the array's memory: C order.
        contiguous = [np.ascontiguousarray(image) for image in images]
        by_shape: dict[tuple[int, ...], list[int]] = defaultdict(list)
        for index, image in enumerate(contiguous):
            if min(image.shape[:2]) << self.upsample >= MMOD_MIN_SIDE:
                by_shape[image.shape].append(index)
        found: list[list[Face]] = [[] for _ in images]
        for (height, width, _), indices in by_shape.items():
            per_call = max(1, MMOD_BATCH_PIXELS // ((height * width) << 2 * self.upsample))
            for start in range(0, len(indices), per_call):
                chunk = indices[start : start + per_call]
                if len(chunk) == 1:
                    detections = [self.net(contiguous[chunk[0]], self.upsample)]
                else:
                    batch = [contiguous[index] for index in chunk]
                    detections = self.net(batch, self.upsample, batch_size=len(batch))
                for index, dets in zip(chunk, detections, strict=True):
                    kept = [
                        (det.rect, det.confidence) for det in dets if det.confidence >= self.score_threshold
                    ]
                    found[index] = self._faces(contiguous[index], kept)
        return found

    def describe(self) -> dict[str, str]:
        return {**super().describe(), "detector_weights": f"{self.model_path}, {self.predictor_path}"}
