"""RetinaFace MobileNet-0.25 (biubug6/Pytorch_Retinaface) on ONNX Runtime, decoded here.

The graph takes ``N x 3 x H x W`` BGR minus the ImageNet-Caffe means (104, 117, 123), any size,
and gives per prior box ``loc`` (4 offsets), ``conf`` (background, face: already softmaxed in
the graph) and ``landmarks`` (5 x 2 offsets). Priors and decoding are those of the reference
``mobilenet0.25`` config: at strides 8, 16, 32 a ``ceil(H / s) x ceil(W / s)`` grid, two square
priors per cell (16/32, 64/128, 256/512 px), not clipped; offsets scaled by the variances 0.1
(centres, landmarks) and 0.2 (log sizes). Then threshold, top-k, IoU NMS 0.4.

The landmarks come image-left eye first (RetinaFace's WIDER FACE labels), the documented
order, so they are used as given.

Images are fed at their own size (a fully convolutional net: no resize, no padding), and
images of one size share a forward pass; ``max_size`` shrinks larger images first.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torchvision.ops import nms

from bench.assets import resolve
from bench.detectors.base import Face
from bench.detectors.letterbox import Placement, resize
from bench.detectors.onnx_detector import OnnxDetector
from bench.detectors.retinaface import WEIGHTS
from bench.detectors.retinaface.options import RetinaFaceOptions
from bench.runtime import Runtime

STRIDES = (8, 16, 32)
MIN_SIZES = ((16, 32), (64, 128), (256, 512))
VARIANCES = (0.1, 0.2)
#: Per-channel means subtracted from BGR input, as in training.
BGR_MEAN = np.array([104.0, 117.0, 123.0], dtype=np.float32)
#: Most input pixels (images x H x W) in one forward pass: bounds activation memory.
_MAX_PIXELS_PER_PASS = 64 * 640 * 640


def prior_boxes(height: int, width: int) -> np.ndarray:
    """``(P, 4)`` priors ``cx, cy, w, h`` in input pixels, in the graph's output order
    (stride, then row, column, size)."""
    priors = []
    for stride, sizes in zip(STRIDES, MIN_SIZES, strict=True):
        rows, cols = math.ceil(height / stride), math.ceil(width / stride)
        centres_y = (np.arange(rows) + 0.5) * stride
        centres_x = (np.arange(cols) + 0.5) * stride
        cy, cx = np.meshgrid(centres_y, centres_x, indexing="ij")
        per_size = [np.stack([cx, cy, np.full_like(cx, size), np.full_like(cx, size)], -1) for size in sizes]
        priors.append(np.stack(per_size, axis=2).reshape(-1, 4))
    return np.concatenate(priors).astype(np.float32)


def decode(loc: np.ndarray, landmarks: np.ndarray, priors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Boxes ``(P, 4)`` x1 y1 x2 y2 and landmarks ``(P, 5, 2)`` from the raw offsets."""
    centre_var, size_var = VARIANCES
    centres, sizes = priors[:, :2], priors[:, 2:]
    box_centres = centres + loc[:, :2] * centre_var * sizes
    box_sizes = sizes * np.exp(loc[:, 2:] * size_var)
    boxes = np.concatenate([box_centres - box_sizes / 2, box_centres + box_sizes / 2], axis=1)
    points = centres[:, None] + landmarks.reshape(-1, 5, 2) * centre_var * sizes[:, None]
    return boxes, points


class RetinaFaceDetector(OnnxDetector):
    """RetinaFace MobileNet-0.25: priors, variance decoding, score threshold, top-k, NMS.

    ``top_k`` candidates (by score) enter NMS and ``keep_top_k`` faces leave it, as in the
    reference ``detect.py``. ``input_size`` (pixels, or ``None``) shrinks any image whose longer
    side exceeds it before detection; coordinates are mapped back to the original image.
    """

    def __init__(self, options: RetinaFaceOptions, runtime: Runtime) -> None:
        super().__init__(resolve(WEIGHTS.name, options.path), runtime)
        self.score_threshold = options.score_threshold
        self.nms_threshold = options.nms_threshold
        self.top_k = options.top_k
        self.keep_top_k = options.keep_top_k
        self.input_size = options.input_size
        self._priors: dict[tuple[int, int], np.ndarray] = {}

    def _detect(self, images: Sequence[np.ndarray]) -> list[list[Face]]:
        inputs, placements = [], []
        for image in images:
            longer = max(image.shape[:2])
            scale = 1.0 if self.input_size is None or longer <= self.input_size else self.input_size / longer
            resized, placement = resize(image, scale)
            inputs.append(resized)
            placements.append(placement)

        by_shape: dict[tuple[int, int], list[int]] = {}
        for index, image in enumerate(inputs):
            by_shape.setdefault(image.shape[:2], []).append(index)
        faces: list[list[Face]] = [[] for _ in images]
        for (height, width), ids in by_shape.items():
            per_pass = max(1, _MAX_PIXELS_PER_PASS // (height * width))
            for start in range(0, len(ids), per_pass):
                chunk = ids[start : start + per_pass]
                blob = np.stack([inputs[i][..., ::-1] for i in chunk]).astype(np.float32) - BGR_MEAN
                loc, conf, marks = self.session.run(np.ascontiguousarray(blob.transpose(0, 3, 1, 2)))
                priors = self._priors_for(height, width, loc.shape[1])
                for row, index in enumerate(chunk):
                    faces[index] = self._faces(
                        loc[row], conf[row, :, 1], marks[row], priors, placements[index], images[index].shape
                    )
        return faces

    def _priors_for(self, height: int, width: int, count: int) -> np.ndarray:
        if (height, width) not in self._priors:
            priors = prior_boxes(height, width)
            if len(priors) != count:
                raise RuntimeError(
                    f"{self.weights}: {count} outputs for a {width}x{height} input but {len(priors)} "
                    "priors; this is not the mobilenet0.25 RetinaFace layout"
                )
            self._priors[height, width] = priors
        return self._priors[height, width]

    def _faces(
        self,
        loc: np.ndarray,
        scores: np.ndarray,
        marks: np.ndarray,
        priors: np.ndarray,
        placement: Placement,
        shape: tuple[int, ...],
    ) -> list[Face]:
        """Threshold, decode, NMS and map back the detections of one image."""
        candidates = np.nonzero(scores > self.score_threshold)[0]
        candidates = candidates[np.argsort(-scores[candidates], kind="stable")][: self.top_k]
        boxes, points = decode(loc[candidates], marks[candidates], priors[candidates])
        kept_scores = scores[candidates]
        keep = nms(torch.from_numpy(boxes), torch.from_numpy(kept_scores), self.nms_threshold)
        height, width = shape[:2]
        limits = np.array([width, height, width, height], dtype=np.float32)
        faces = []
        for index in keep[: self.keep_top_k].numpy():  # best score first
            box = np.clip(placement.to_image(boxes[index].reshape(2, 2)).reshape(4), 0, limits)
            faces.append(
                Face(box=box, score=float(kept_scores[index]), landmarks=placement.to_image(points[index]))
            )
        return faces

    def describe(self) -> dict[str, str]:
        size = "native size" if self.input_size is None else f"longer side <= {self.input_size}"
        return {**super().describe(), "detector_input": f"{size}, batched by size"}
