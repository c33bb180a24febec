"""MTCNN (Zhang et al., 2016) in PyTorch, batched over images, on any torch device.

The cascade follows the reference MATLAB code (as ported by facenet-pytorch):

1. P-Net on an image pyramid (scales ``12 / min_face_size * scale_factor**k`` down to a
   12 px shorter side); NMS 0.5 within each scale, then NMS across scales per image;
   box regression; boxes made square (``rerec``) and truncated to whole pixels.
2. R-Net on 24x24 crops: threshold, NMS, regression, square, truncate.
3. O-Net on 48x48 crops: threshold, landmarks, regression, NMS.

Where it departs from the reference, and why:

* All NMS is torchvision's IoU NMS (``batched_nms`` keyed by image). The reference's last NMS
  uses the "Min" overlap (intersection over the smaller box), which also removes a small box
  lying inside a bigger one; with IoU such nested pairs can both survive. Accepted: it keeps
  the whole cascade on the device in standard ops.
* Crops are cut with ``roi_align`` from a zero-padded copy of the image instead of a
  per-box ``imresample``: one call per image size for all candidates, so boxes that cross the
  border see zeros there, as in the reference's padding (``pad``). Its averaged bilinear
  samples stand in for area resampling.
* Images of one size are stacked and run through P-Net together at every scale; R-Net and
  O-Net see the candidates of all images of the batch at once (in chunks of
  ``_MAX_CROPS_PER_PASS`` to bound memory).

Coordinates: internally boxes are the reference's 1-based inclusive pixel boxes
``(x1, y1, x2, y2)`` (so its regression formulas, with their ``+1`` widths, apply
unchanged). They cover the continuous pixel-edge interval ``[x1 - 1, x2]``, which is what a
``Face`` reports (clipped to the image); landmarks are in the same pixel-edge coordinates,
exactly as facenet-pytorch returns them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import batched_nms, roi_align

from bench.assets import resolve
from bench.config import MTCNNOptions
from bench.detectors.base import Detector, Face
from bench.detectors.mtcnn.nets import ONet, PNet, RNet, load_net
from bench.detectors.registry import Requirements, register_detector
from bench.runtime import Runtime

_NETS = ("pnet", "rnet", "onet")
#: P-Net's receptive field and stride: each output cell is one 12x12 window, 2 px apart.
_CELL, _STRIDE = 12, 2
#: NMS threshold among one scale's P-Net windows (fixed in the reference).
_PNET_SCALE_NMS = 0.5
#: Most crops sent through R-Net / O-Net in one forward pass (bounds activation memory).
_MAX_CROPS_PER_PASS = 4096


@dataclass
class _Candidates:
    """Face candidates of a whole batch, as parallel device tensors."""

    boxes: torch.Tensor  # K x 4, reference 1-based inclusive (x1, y1, x2, y2)
    scores: torch.Tensor  # K
    image_ids: torch.Tensor  # K, index of the image in the batch

    def __len__(self) -> int:
        return self.boxes.shape[0]

    def take(self, index: torch.Tensor) -> _Candidates:
        return _Candidates(self.boxes[index], self.scores[index], self.image_ids[index])


@dataclass
class _SizeGroup:
    """The images of one size, stacked on the device."""

    image_ids: torch.Tensor  # n, their indices in the batch
    padded: torch.Tensor  # n x 3 x (H + 2) x (W + 2) float RGB 0..255 with a 1 px zero border

    @property
    def pixels(self) -> torch.Tensor:
        return self.padded[:, :, 1:-1, 1:-1]


def _square(boxes: torch.Tensor) -> torch.Tensor:
    """The reference ``rerec``: grow each box to a square about its centre, on its longer side."""
    width = boxes[:, 2] - boxes[:, 0]
    height = boxes[:, 3] - boxes[:, 1]
    side = torch.maximum(width, height)
    x1 = boxes[:, 0] + (width - side) * 0.5
    y1 = boxes[:, 1] + (height - side) * 0.5
    return torch.stack([x1, y1, x1 + side, y1 + side], dim=1)


def _regress(boxes: torch.Tensor, offsets: torch.Tensor, plus_one: bool) -> torch.Tensor:
    """Shift each edge by its offset times the box size (the reference ``bbreg``).

    The reference measures P-Net boxes as ``x2 - x1`` and R-/O-Net boxes as ``x2 - x1 + 1``.
    """
    extra = 1.0 if plus_one else 0.0
    width = boxes[:, 2] - boxes[:, 0] + extra
    height = boxes[:, 3] - boxes[:, 1] + extra
    return boxes + offsets * torch.stack([width, height, width, height], dim=1)


@register_detector(
    "mtcnn", requires=Requirements(("mtcnn_pnet", "mtcnn_rnet", "mtcnn_onet"), ("torch", "torchvision"))
)
class MTCNNDetector(Detector):
    """The three-stage MTCNN cascade with facenet-pytorch's converted Caffe weights.

    ``score_threshold`` holds the face-probability cut-offs of P-, R- and O-Net; ``nms_threshold``
    the IoU thresholds of the NMS after P-Net (across scales), R-Net and O-Net. ``path`` is a
    folder holding ``pnet.pt``, ``rnet.pt`` and ``onet.pt``; ``None`` asks the asset resolver
    (``mtcnn_pnet``...).
    """

    def __init__(self, options: MTCNNOptions, runtime: Runtime) -> None:
        self._torch_device = runtime.device
        self.device = runtime.device_name
        self.min_face_size = options.min_face_size
        self.thresholds = tuple(options.score_threshold)
        self.scale_factor = options.scale_factor
        self.nms_thresholds = tuple(options.nms_threshold)
        folder = None if options.path is None else Path(options.path).expanduser()
        self.weight_paths: dict[str, Path] = {
            net: resolve(f"mtcnn_{net}", None if folder is None else str(folder / f"{net}.pt"))
            for net in _NETS
        }
        self.pnet = load_net(PNet(), self.weight_paths["pnet"], self._torch_device)
        self.rnet = load_net(RNet(), self.weight_paths["rnet"], self._torch_device)
        self.onet = load_net(ONet(), self.weight_paths["onet"], self._torch_device)

    def describe(self) -> dict[str, str]:
        return {
            **super().describe(),
            "detector_backend": "torch",
            "detector_weights": ",".join(str(self.weight_paths[net]) for net in _NETS),
        }

    # ------------------------------------------------------------------ public API

    def detect(self, images: Sequence[np.ndarray]) -> list[list[Face]]:
        for index, image in enumerate(images):
            if image.ndim != 3 or image.shape[2] != 3:
                raise ValueError(f"image {index} has shape {image.shape}; expected HxWx3 RGB")
        if len(images) == 0:
            return []

        with torch.inference_mode():
            groups = self._upload(images)
            candidates = self._propose(groups)
            if len(candidates):
                candidates = self._refine(groups, candidates)
            if len(candidates):
                candidates, landmarks = self._output(groups, candidates)
            else:
                landmarks = candidates.boxes.new_zeros((0, 5, 2))
            # The single device -> host transfer of the cascade.
            boxes = candidates.boxes.cpu().numpy()
            scores = candidates.scores.cpu().numpy()
            image_ids = candidates.image_ids.cpu().numpy()
            points = landmarks.cpu().numpy()

        faces: list[list[Face]] = [[] for _ in images]
        for index in np.argsort(-scores, kind="stable"):
            image_id = int(image_ids[index])
            height, width = images[image_id].shape[:2]
            x1, y1, x2, y2 = boxes[index]
            box = np.array(
                [
                    np.clip(x1 - 1.0, 0.0, width),
                    np.clip(y1 - 1.0, 0.0, height),
                    np.clip(x2, 0.0, width),
                    np.clip(y2, 0.0, height),
                ],
                dtype=np.float32,
            )
            faces[image_id].append(Face(box=box, score=float(scores[index]), landmarks=points[index]))
        return faces

    # ------------------------------------------------------------------ stages

    def _upload(self, images: Sequence[np.ndarray]) -> list[_SizeGroup]:
        """Stack the images of each size and move them to the device as uint8 (cheapest copy)."""
        by_shape: dict[tuple[int, int], list[int]] = {}
        for index, image in enumerate(images):
            by_shape.setdefault(image.shape[:2], []).append(index)
        groups = []
        for ids in by_shape.values():
            stacked = torch.from_numpy(np.stack([images[i] for i in ids]))
            pixels = stacked.to(self._torch_device).permute(0, 3, 1, 2).float().contiguous()
            groups.append(
                _SizeGroup(
                    image_ids=torch.tensor(ids, device=self._torch_device),
                    padded=F.pad(pixels, (1, 1, 1, 1)),
                )
            )
        return groups

    def _scales(self, height: int, width: int) -> list[float]:
        """Pyramid scales: the smallest face maps to P-Net's 12 px window, down to a 12 px image."""
        scale = _CELL / self.min_face_size
        shorter = min(height, width) * scale
        scales = []
        while shorter >= _CELL:
            scales.append(scale)
            scale *= self.scale_factor
            shorter *= self.scale_factor
        return scales

    def _propose(self, groups: list[_SizeGroup]) -> _Candidates:
        """Stage 1: P-Net windows over the pyramid, merged per image, regressed and squared."""
        boxes, scores, offsets, image_ids = [], [], [], []
        for group in groups:
            pixels = group.pixels
            height, width = pixels.shape[2:]
            for scale in self._scales(height, width):
                size = (int(height * scale + 1), int(width * scale + 1))
                prob, reg = self.pnet(F.interpolate(pixels, size=size, mode="area"))
                hit = prob >= self.thresholds[0]
                cells = hit.nonzero()  # rows of (image in group, y, x)
                # Window corners in the reference's 1-based pixel coordinates.
                xy = cells[:, [2, 1]].to(prob.dtype) * _STRIDE
                scale_boxes = torch.cat(
                    [torch.floor((xy + 1) / scale), torch.floor((xy + _CELL) / scale)], dim=1
                )
                scale_scores = prob[hit]
                scale_ids = group.image_ids[cells[:, 0]]
                keep = batched_nms(scale_boxes, scale_scores, scale_ids, _PNET_SCALE_NMS)
                boxes.append(scale_boxes[keep])
                scores.append(scale_scores[keep])
                offsets.append(reg.permute(0, 2, 3, 1)[hit][keep])
                image_ids.append(scale_ids[keep])

        device = self._torch_device
        if not boxes:  # every image is smaller than the smallest face
            return _Candidates(
                torch.zeros((0, 4), device=device),
                torch.zeros((0,), device=device),
                torch.zeros((0,), dtype=torch.long, device=device),
            )
        candidates = _Candidates(torch.cat(boxes), torch.cat(scores), torch.cat(image_ids))
        all_offsets = torch.cat(offsets)
        keep = batched_nms(candidates.boxes, candidates.scores, candidates.image_ids, self.nms_thresholds[0])
        candidates = candidates.take(keep)
        candidates.boxes = torch.trunc(_square(_regress(candidates.boxes, all_offsets[keep], False)))
        return candidates

    def _refine(self, groups: list[_SizeGroup], candidates: _Candidates) -> _Candidates:
        """Stage 2: R-Net rescoring and regression of the P-Net candidates."""
        prob, reg = self._run(self.rnet, self._crop(groups, candidates, 24))
        passed = (prob > self.thresholds[1]).nonzero().squeeze(1)
        candidates = _Candidates(candidates.boxes[passed], prob[passed], candidates.image_ids[passed])
        keep = batched_nms(candidates.boxes, candidates.scores, candidates.image_ids, self.nms_thresholds[1])
        candidates = candidates.take(keep)
        candidates.boxes = torch.trunc(_square(_regress(candidates.boxes, reg[passed][keep], True)))
        return candidates

    def _output(self, groups: list[_SizeGroup], candidates: _Candidates) -> tuple[_Candidates, torch.Tensor]:
        """Stage 3: O-Net scores, landmarks (relative to the crop) and final boxes."""
        prob, reg, marks = self._run(self.onet, self._crop(groups, candidates, 48))
        passed = (prob > self.thresholds[2]).nonzero().squeeze(1)
        boxes, marks = candidates.boxes[passed], marks[passed]
        # The crop spans [x1 - 1, x2] in pixel-edge coordinates.
        origin = boxes[:, :2] - 1.0
        size = boxes[:, 2:] - boxes[:, :2] + 1.0
        landmarks = torch.stack([marks[:, :5], marks[:, 5:]], dim=2) * size[:, None] + origin[:, None]
        candidates = _Candidates(
            _regress(boxes, reg[passed], True), prob[passed], candidates.image_ids[passed]
        )
        keep = batched_nms(candidates.boxes, candidates.scores, candidates.image_ids, self.nms_thresholds[2])
        return candidates.take(keep), landmarks[keep]

    # ------------------------------------------------------------------ helpers

    def _crop(self, groups: list[_SizeGroup], candidates: _Candidates, size: int) -> torch.Tensor:
        """Cut every candidate box out of its image and resample it to ``size`` x ``size``.

        ``roi_align`` with ``aligned=True`` takes pixel-edge coordinates; the reference box
        ``[x1, x2]`` (1-based, inclusive) is ``[x1 - 1, x2]`` there, shifted by +1 for the
        zero border, so parts outside the image read zeros as in the reference padding.
        """
        crops = candidates.boxes.new_zeros((len(candidates), 3, size, size))
        rois_xyxy = candidates.boxes + torch.tensor([0.0, 0.0, 1.0, 1.0], device=candidates.boxes.device)
        for group in groups:
            member = candidates.image_ids[:, None] == group.image_ids[None, :]  # K x n
            rows, slots = member.nonzero(as_tuple=True)
            if rows.numel() == 0:
                continue
            rois = torch.cat([slots[:, None].to(rois_xyxy.dtype), rois_xyxy[rows]], dim=1)
            crops[rows] = roi_align(
                group.padded, rois, output_size=size, spatial_scale=1.0, sampling_ratio=-1, aligned=True
            )
        return crops

    @staticmethod
    def _run(net: nn.Module, crops: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Run ``net`` over all crops, in chunks so that huge candidate sets fit in memory."""
        outputs = [net(chunk) for chunk in crops.split(_MAX_CROPS_PER_PASS)]
        return tuple(torch.cat(parts) for parts in zip(*outputs, strict=True))
