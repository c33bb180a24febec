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

The exported graph is fixed to batch 1 (its ShuffleNet channel shuffles reshape to constant
``[1, ...]`` shapes). At load, those constants' batch entry becomes ``0`` ("copy the input's
dimension") and the batch dimension symbolic, so same-size inputs stack into one forward pass
with the same numbers per image.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
from torchvision.ops import batched_nms

from bench.assets import resolve
from bench.assets.derived import derived_file, is_onnx_model
from bench.config import YoloV8FaceOptions
from bench.detectors.base import Face
from bench.detectors.letterbox import Placement, pad_small
from bench.detectors.onnx_detector import OnnxDetector
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


def letterbox(image: np.ndarray, size: int) -> tuple[np.ndarray, Placement]:
    """``image`` fitted into ``size`` x ``size`` exactly as Ultralytics' ``LetterBox`` does it:
    bilinear whatever the scale, centred, the odd pixel of padding at the bottom/right."""
    height, width = image.shape[:2]
    ratio = min(size / height, size / width)
    new_width, new_height = max(round(width * ratio), 1), max(round(height * ratio), 1)
    if (new_width, new_height) != (width, height):
        image = cv2.resize(image, (new_width, new_height), interpolation=cv2.INTER_LINEAR)
    pad_x, pad_y = (size - new_width) / 2, (size - new_height) / 2
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


def anchor_grid(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Cell-centre anchors ``(A, 2)`` in cells and their strides ``(A,)``, in head order."""
    anchors, strides = [], []
    for stride in STRIDES:
        cells = size // stride
        ys, xs = torch.meshgrid(torch.arange(cells), torch.arange(cells), indexing="ij")
        anchors.append(torch.stack([xs, ys], dim=-1).reshape(-1, 2) + 0.5)
        strides.append(torch.full((cells * cells,), float(stride)))
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
        scores = 1.0 / (1.0 + np.exp(-flat[:, 4 * BINS]))
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


def dynamic_batch_model(weights: Path) -> Path:
    """The cached copy of the fixed-batch graph ``weights`` whose batch dimension is free; made
    on first use."""
    import onnx  # only this backend needs it, and only at load
    from onnx import numpy_helper

    def make_dynamic_batch(source: Path, destination: Path) -> None:
        model = onnx.load(str(source))
        shapes = {node.input[1] for node in model.graph.node if node.op_type == "Reshape"}
        for initializer in model.graph.initializer:
            if initializer.name in shapes:
                shape = numpy_helper.to_array(initializer).copy()
                if shape[0] == 1:
                    shape[0] = 0  # Reshape's "keep the input's size" on the batch axis
                    initializer.CopyFrom(numpy_helper.from_array(shape, initializer.name))
        for value in (*model.graph.input, *model.graph.output):
            value.type.tensor_type.shape.dim[0].dim_param = "batch"
        onnx.save(model, str(destination))

    return derived_file(
        weights,
        make_dynamic_batch,
        recipe=f"yolov8-face dynamic batch 1, onnx {onnx.__version__}",
        check=is_onnx_model,
    )


class OnnxYoloV8Face(OnnxDetector):
    """YOLOv8-face lite-t on ONNX Runtime: letterbox, one forward pass per chunk of images,
    decode, threshold, NMS. The ``onnxruntime`` backend of ``yolov8_face``."""

    def __init__(self, options: YoloV8FaceOptions, runtime: Runtime) -> None:
        weights = resolve("yolov8_face", options.path)
        super().__init__(weights, runtime, graph=dynamic_batch_model(weights))
        size = options.input_size
        shape = self.session.input_shape
        if shape[1:] != [3, size, size]:
            raise ValueError(
                f"{weights}: the graph takes a 3x{shape[2]}x{shape[3]} input (fixed by its reshapes); "
                f"input_size={size} cannot run on it"
            )
        self.input_size = size
        self.upscale = options.upscale
        self.score_threshold = options.score_threshold
        self.nms_threshold = options.nms_threshold
        self._anchors, self._strides = anchor_grid(self.input_size)

    def detect(self, images: Sequence[np.ndarray]) -> list[list[Face]]:
        for index, image in enumerate(images):
            if image.ndim != 3 or image.shape[2] != 3:
                raise ValueError(f"image {index} has shape {image.shape}; expected HxWx3 RGB")
        faces: list[list[Face]] = []
        for start in range(0, len(images), MAX_IMAGES_PER_PASS):
            faces.extend(self._detect_chunk(images[start : start + MAX_IMAGES_PER_PASS]))
        return faces

    def _detect_chunk(self, images: Sequence[np.ndarray]) -> list[list[Face]]:
        inputs = images if self.upscale else [pad_small(image, self.input_size) for image in images]
        canvases, placements = zip(*(letterbox(image, self.input_size) for image in inputs), strict=True)
        blob = np.stack(canvases).transpose(0, 3, 1, 2).astype(np.float32) / np.float32(255.0)
        decoded = decode_heads(
            self.session.run(blob), self._anchors, self._strides, self.score_threshold, self.nms_threshold
        )
        faces = []
        for image, placement, (boxes, scores, keypoints) in zip(images, placements, decoded, strict=True):
            height, width = image.shape[:2]
            limits = np.array([width, height], dtype=np.float32)
            corners = np.clip(placement.to_image(boxes.reshape(-1, 2, 2)), 0, limits)
            points = np.clip(placement.to_image(keypoints), 0, limits)
            faces.append(
                [
                    Face(box=box.reshape(4), score=float(score), landmarks=landmarks)
                    for box, score, landmarks in zip(corners, scores, points, strict=True)
                ]
            )
        return faces

    def describe(self) -> dict[str, str]:
        return {
            **super().describe(),
            "detector_input": f"letterbox {self.input_size}, up to {MAX_IMAGES_PER_PASS} images per forward",
        }
