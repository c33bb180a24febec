"""YOLOv8-face on ONNX Runtime, decoded here from the three raw heads of ``yolov8-lite-t.onnx``.

Each head (strides 8, 16, 32 for the 640 x 640 input) is ``[B, 80, H, W]``: 64 box channels
(4 sides x 16 distance bins, Distribution Focal Loss), 1 face logit, 15 keypoint channels
(5 x ``(x, y, visibility)``). The decode is the YOLOv8-pose head's, the one Ultralytics appends
to its exported graph: with anchors at cell centres ``a = cell + 0.5`` (in cells),

* box sides ``l, t, r, b`` = expectation of the softmax over the 16 bins;
  ``(x1, y1, x2, y2) = (a_x - l, a_y - t, a_x + r, a_y + b) * stride``;
* score = sigmoid(face logit);
* keypoint ``x = (2 raw_x + a_x - 0.5) * stride`` (same for y); visibility = sigmoid (unused).

Pre- and post-processing follow Ultralytics' predictor so that both backends give the same
faces: letterbox (bilinear resize, centred grey-114 padding, Ultralytics' rounding), RGB / 255,
score ``> score_threshold``, IoU NMS, at most 300 faces, boxes and keypoints clipped to the image.

The export is fixed at 1 x 3 x 640 x 640 (its ShuffleNet channel shuffles reshape to constant
shapes); at load those reshapes are made relative to their input (``bench.backends.onnx_graph``),
so images run at their own size padded to a multiple of 32, as Ultralytics' rectangular
inference pads them (``pad_to: stride``, the default), and same-size images stack into one pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import cv2
import numpy as np
import torch
from torchvision.ops import batched_nms

from bench.assets import resolve
from bench.backends.onnx_graph import any_size_graph
from bench.detectors.base import Face
from bench.detectors.letterbox import Placement, pad_small
from bench.detectors.onnx_detector import OnnxDetector, same_shape_groups, sigmoid
from bench.detectors.yolo_options import YOLO_STRIDE, InputPadding
from bench.detectors.yolov8_face.options import YoloV8FaceOptions
from bench.runtime import Runtime

STRIDES = (8, 16, 32)
#: Distance bins per box side (``reg_max`` of the YOLOv8 head).
BINS = 16
#: Channels per anchor: 4 x 16 box bins, 1 face logit, 5 x (x, y, visibility) keypoints.
CHANNELS = 4 * BINS + 1 + 15
#: Ultralytics' padding grey and its per-image detection cap.
PAD_VALUE = 114
MAX_DETECTIONS = 300
#: Most images per forward pass: about 20 MB of activations each on the CPU.
MAX_IMAGES_PER_PASS = 32


def letterbox(
    image: np.ndarray, size: int, stride: int | None = None, scaleup: bool = True
) -> tuple[np.ndarray, Placement]:
    """``image`` fitted into ``size`` x ``size`` exactly as Ultralytics' ``LetterBox`` does it:
    bilinear whatever the scale, centred, the odd pixel of padding at the bottom/right.
    ``stride``: pad only to multiples of it (``auto=True``); ``scaleup=False``: never enlarge."""
    height, width = image.shape[:2]
    ratio = min(size / height, size / width)
    if not scaleup:
        ratio = min(ratio, 1.0)
    new_width, new_height = max(round(width * ratio), 1), max(round(height * ratio), 1)
    if (new_width, new_height) != (width, height):
        image = cv2.resize(image, (new_width, new_height), interpolation=cv2.INTER_LINEAR)
    pad_x, pad_y = size - new_width, size - new_height
    if stride is not None:
        pad_x, pad_y = pad_x % stride, pad_y % stride
    pad_x, pad_y = pad_x / 2, pad_y / 2
    left, top = round(pad_x - 0.1), round(pad_y - 0.1)
    canvas = cv2.copyMakeBorder(
        image,
        top,
        round(pad_y + 0.1),
        left,
        round(pad_x + 0.1),
        cv2.BORDER_CONSTANT,
        value=(PAD_VALUE,) * 3,
    )
    return canvas, Placement(new_width / width, new_height / height, left, top)


@lru_cache(maxsize=16)
def anchor_grid(height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Cell-centre anchors ``(A, 2)`` in cells and their strides ``(A,)``, in head order, for a
    ``height`` x ``width`` input."""
    anchors, strides = [], []
    for stride in STRIDES:
        rows, cols = height // stride, width // stride
        ys, xs = torch.meshgrid(torch.arange(rows), torch.arange(cols), indexing="ij")
        anchors.append(torch.stack([xs, ys], dim=-1).reshape(-1, 2) + 0.5)
        strides.append(torch.full((rows * cols,), float(stride)))
    return torch.cat(anchors).float(), torch.cat(strides)


def decode_heads(
    heads: Sequence[np.ndarray],
    anchors: torch.Tensor,
    strides: torch.Tensor,
    score_threshold: float,
    nms_threshold: float,
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per image of the batch: boxes ``(N, 4)``, scores ``(N,)`` and keypoints ``(N, 5, 2)`` in
    network-input pixels, after the score threshold and NMS, best score first.

    Only the anchors above the threshold are gathered and decoded (a few per face), so the
    cost does not grow with the 8400 anchors per image beyond one sigmoid over their scores.
    """
    rows, hit_scores, image_ids, cells, start = [], [], [], [], 0
    for head in heads:
        batch, channels = head.shape[:2]
        if channels != CHANNELS:
            raise ValueError(f"a head has {channels} channels; expected {CHANNELS}")
        flat = head.reshape(batch, channels, -1)
        scores = sigmoid(flat[:, 4 * BINS])
        ids, hits = np.nonzero(scores > score_threshold)
        rows.append(flat[ids, :, hits])
        hit_scores.append(scores[ids, hits])
        image_ids.append(ids)
        cells.append(hits + start)
        start += flat.shape[2]
    if start != len(anchors):
        raise ValueError(f"the heads hold {start} anchors; expected {len(anchors)} for this input size")
    raw = torch.from_numpy(np.concatenate(rows))  # K x 80
    ids = torch.from_numpy(np.concatenate(image_ids))
    index = torch.from_numpy(np.concatenate(cells))
    centre, stride = anchors[index], strides[index, None]
    bins = raw[:, : 4 * BINS].reshape(-1, 4, BINS).softmax(dim=-1)
    sides = bins @ torch.arange(BINS, dtype=bins.dtype)  # K x 4: left, top, right, bottom
    boxes = torch.cat([centre - sides[:, :2], centre + sides[:, 2:]], dim=1) * stride
    keypoints = raw[:, 4 * BINS + 1 :].reshape(-1, 5, 3)[..., :2]
    keypoints = (keypoints * 2.0 + (centre[:, None] - 0.5)) * stride[:, None]
    scores = torch.from_numpy(np.concatenate(hit_scores))
    keep = batched_nms(boxes, scores, ids, nms_threshold)  # best score first
    results = []
    for image in range(heads[0].shape[0]):
        mine = keep[ids[keep] == image][:MAX_DETECTIONS]
        results.append((boxes[mine].numpy(), scores[mine].numpy(), keypoints[mine].numpy()))
    return results


class OnnxYoloV8Face(OnnxDetector):
    """YOLOv8-face lite-t on ONNX Runtime: letterbox, one forward pass per group of same-size
    images, decode, threshold, NMS. The ``onnxruntime`` backend of ``yolov8_face``."""

    def __init__(self, options: YoloV8FaceOptions, runtime: Runtime) -> None:
        weights = resolve("yolov8_face", options.path)
        if weights.suffix != ".onnx":
            raise ValueError(
                f"{weights}: the onnxruntime backend runs .onnx files; a .pt runs on backend=ultralytics"
            )
        super().__init__(weights, runtime, graph=any_size_graph(weights))
        if self.session.input_shape[1] != 3:
            raise ValueError(f"{weights}: expected a 3-channel input, got {self.session.input_shape}")
        self.input_size = options.input_size
        self.square = options.pad_to is InputPadding.square
        self.upscale = options.upscale
        self.score_threshold = options.score_threshold
        self.nms_threshold = options.nms_threshold

    def _detect(self, images: Sequence[np.ndarray]) -> list[list[Face]]:
        fitted = [self._letterbox(image) for image in images]
        canvases = [canvas for canvas, _ in fitted]
        faces: list[list[Face]] = [[] for _ in images]
        for group in same_shape_groups(canvases, MAX_IMAGES_PER_PASS):
            blob = np.stack([canvases[index] for index in group]).transpose(0, 3, 1, 2)
            height, width = blob.shape[2:]
            decoded = decode_heads(
                self.session.run(blob.astype(np.float32) / np.float32(255.0)),
                *anchor_grid(height, width),
                self.score_threshold,
                self.nms_threshold,
            )
            for index, (boxes, scores, keypoints) in zip(group, decoded, strict=True):
                faces[index] = self._faces(images[index].shape, fitted[index][1], boxes, scores, keypoints)
        return faces

    def _letterbox(self, image: np.ndarray) -> tuple[np.ndarray, Placement]:
        if not self.square:
            return letterbox(image, self.input_size, stride=YOLO_STRIDE, scaleup=self.upscale)
        # What the ultralytics backend does for the fixed export: small images padded at the
        # top-left to the full input, then Ultralytics' square letterbox.
        return letterbox(image if self.upscale else pad_small(image, self.input_size), self.input_size)

    @staticmethod
    def _faces(
        shape: tuple[int, ...],
        placement: Placement,
        boxes: np.ndarray,
        scores: np.ndarray,
        keypoints: np.ndarray,
    ) -> list[Face]:
        limits = np.array(shape[1::-1], dtype=np.float32)
        corners = np.clip(placement.to_image(boxes.reshape(-1, 2, 2)), 0, limits)
        points = np.clip(placement.to_image(keypoints), 0, limits)
        return [
            Face(box=box.reshape(4), score=float(score), landmarks=landmarks)
            for box, score, landmarks in zip(corners, scores, points, strict=True)
        ]

    def describe(self) -> dict[str, str]:
        pad = "square" if self.square else f"to a multiple of {YOLO_STRIDE}"
        return {
            **super().describe(),
            "detector_input": f"letterbox {self.input_size} ({pad}), "
            f"up to {MAX_IMAGES_PER_PASS} same-size images per forward",
        }
