"""YOLOv5-Face n-0.5 (deepcam-cn/yolov5-face) on ONNX Runtime, decoded here from its raw heads.

The exported graph stops before the ``Detect`` decoding: three heads ``stride_8/16/32`` of shape
``[1, 3, H, W, 16]``, per anchor ``x, y, w, h, objectness, 5 x (x, y) landmarks, face class``.
Decoding follows the reference ``Detect.forward``: sigmoid on box, objectness and class;
``xy = (2 sigmoid - 0.5 + cell) * stride``, ``wh = (2 sigmoid)^2 * anchor``; landmarks are *not*
squashed, ``raw * anchor + cell * stride`` (a sigmoid there collapses the five points into one
anchor-sized corner of the cell). The score is objectness times class, then IoU NMS.

The model's landmarks come image-left eye first (its WIDER FACE labels are RetinaFace's), the
documented order, so they are used as given.

The export is fixed at ``1 x 3 x 640 x 640`` (its ShuffleNet channel shuffles reshape to constant
shapes); at load those reshapes are made relative to their input (``bench.backends.onnx_graph``),
so images run at their own size padded to a multiple of 32 (``pad_to: stride``; 256 x 256 for
LFW's 250 x 250, 6.25x fewer pixels than 640 x 640), and images of one size run as one batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torchvision.ops import nms

from bench.assets import resolve
from bench.backends.onnx_graph import any_size_graph
from bench.detectors.base import Face
from bench.detectors.letterbox import Placement, letterbox
from bench.detectors.onnx_detector import OnnxDetector, same_shape_groups, sigmoid
from bench.detectors.yolo_options import YOLO_STRIDE, InputPadding
from bench.detectors.yolov5_face import WEIGHTS
from bench.detectors.yolov5_face.options import YoloV5FaceOptions
from bench.runtime import Runtime

#: Strides of the three heads, in graph output order.
STRIDES = (8, 16, 32)
#: Anchor (width, height) in input pixels per head, from the reference ``yolov5n-0.5.yaml``.
ANCHORS = np.array(
    [
        [[4, 5], [8, 10], [13, 16]],
        [[23, 29], [43, 55], [73, 105]],
        [[146, 217], [231, 300], [335, 433]],
    ],
    dtype=np.float32,
)
#: Most images per forward pass (activations of a 640 x 640 input: about 30 MB each).
MAX_IMAGES_PER_PASS = 16


def decode_heads(
    heads: Sequence[np.ndarray], score_threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boxes ``(N, 4)`` x1 y1 x2 y2, scores ``(N,)`` and landmarks ``(N, 5, 2)`` in network-input
    pixels for every anchor of one image whose score exceeds ``score_threshold``."""
    boxes, scores, landmarks = [], [], []
    for head, stride, anchors in zip(heads, STRIDES, ANCHORS, strict=True):
        raw = head[0]  # 3 x H x W x 16: this image's
        score = sigmoid(raw[..., 4]) * sigmoid(raw[..., 15])
        anchor_ids, rows, cols = np.nonzero(score > score_threshold)
        hits = raw[anchor_ids, rows, cols]
        cell = np.stack([cols, rows], axis=1).astype(np.float32)
        anchor = anchors[anchor_ids]
        centre = (sigmoid(hits[:, 0:2]) * 2.0 - 0.5 + cell) * stride
        size = (sigmoid(hits[:, 2:4]) * 2.0) ** 2 * anchor
        boxes.append(np.concatenate([centre - size / 2, centre + size / 2], axis=1))
        scores.append(score[anchor_ids, rows, cols])
        landmarks.append(hits[:, 5:15].reshape(-1, 5, 2) * anchor[:, None] + cell[:, None] * stride)
    return np.concatenate(boxes), np.concatenate(scores), np.concatenate(landmarks)


class YoloV5FaceDetector(OnnxDetector):
    """YOLOv5-Face n-0.5: letterbox (to ``input_size``, padded as ``pad_to`` says; RGB / 255, grey
    padding), decode, threshold, NMS.

    ``upscale`` enlarges images smaller than ``input_size`` to fill it, as the reference
    ``detect_face.py`` does. Off by default: on LFW (~100 px faces in 250 px images, padded
    rather than enlarged 2.56x) the central face scores higher (lowest 0.72 vs 0.68 on a
    269-image sample) and verification is no worse (fold 0: 99.33 % vs 99.17 %).
    """

    def __init__(self, options: YoloV5FaceOptions, runtime: Runtime) -> None:
        weights = resolve(WEIGHTS.name, options.path)
        super().__init__(weights, runtime, graph=any_size_graph(weights))
        if self.session.input_shape[1] != 3:
            raise ValueError(f"{weights}: expected a 3-channel input, got {self.session.input_shape}")
        self.input_size = options.input_size
        self.stride = YOLO_STRIDE if options.pad_to is InputPadding.stride else None
        self.score_threshold = options.score_threshold
        self.nms_threshold = options.nms_threshold
        self.upscale = options.upscale

    def _detect(self, images: Sequence[np.ndarray]) -> list[list[Face]]:
        fitted = [letterbox(image, self.input_size, self.upscale, stride=self.stride) for image in images]
        canvases = [canvas for canvas, _ in fitted]
        faces: list[list[Face]] = [[] for _ in images]
        for group in same_shape_groups(canvases, MAX_IMAGES_PER_PASS):
            blob = np.stack([canvases[index] for index in group]).transpose(0, 3, 1, 2)
            heads = self.session.run((blob / np.float32(255.0)).astype(np.float32))
            for row, index in enumerate(group):
                mine = [head[row : row + 1] for head in heads]
                faces[index] = self._faces(mine, fitted[index][1], images[index].shape)
        return faces

    def _faces(self, heads: list[np.ndarray], placement: Placement, shape: tuple[int, ...]) -> list[Face]:
        boxes, scores, landmarks = decode_heads(heads, self.score_threshold)
        keep = nms(torch.from_numpy(boxes), torch.from_numpy(scores), self.nms_threshold).numpy()
        height, width = shape[:2]
        limits = np.array([width, height, width, height], dtype=np.float32)
        faces = []
        for index in keep:  # nms returns them best score first
            box = np.clip(placement.to_image(boxes[index].reshape(2, 2)).reshape(4), 0, limits)
            faces.append(
                Face(box=box, score=float(scores[index]), landmarks=placement.to_image(landmarks[index]))
            )
        return faces

    def describe(self) -> dict[str, str]:
        fit = "upscaled" if self.upscale else "padded"
        pad = f"to a multiple of {self.stride}" if self.stride else "square"
        return {
            **super().describe(),
            "detector_input": f"letterbox {self.input_size} ({fit}, {pad}), "
            f"up to {MAX_IMAGES_PER_PASS} same-size images per forward",
        }
