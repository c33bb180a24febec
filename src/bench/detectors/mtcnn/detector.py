"""MTCNN (Zhang et al., 2016) in PyTorch, batched over images, on any torch device.

It follows facenet-pytorch 2.6.0 (``detect_face``, a port of the MATLAB reference), whose
weights it loads, so that it finds the same faces: ``tests/test_mtcnn_reference.py`` checks
boxes and landmarks within a pixel of it, ``benchmarks/mtcnn_reference.py`` the speed.

1. P-Net on an image pyramid (scales ``12 / min_face_size * scale_factor**k`` down to a
   12 px shorter side, each level area-resampled); NMS 0.5 within each scale, then NMS across
   scales per image; box regression; boxes made square (``rerec``), kept as floats.
2. R-Net on 24x24 crops: threshold, NMS, regression, square.
3. O-Net on 48x48 crops: threshold, landmarks, regression, then a greedy NMS on the "Min"
   overlap (intersection over the smaller box), which also drops a box inside a better one.

A crop is the reference's: the box truncated to whole pixels and clipped to the image (a box
crossing the border gives only its inside part, stretched to the square, with no padding),
then area-resampled as ``F.interpolate(mode="area")``. Here all crops of a stage come from
integer summed-area tables of the batch's images, four gathers for all boxes at once instead
of a loop over boxes: the same numbers, exactly, and cheaper than ``roi_align`` was.

Batching: images of one size are stacked and run through P-Net together at every scale; R-Net
and O-Net see the candidates of all images of the batch at once. Each net runs in passes sized
to the device (``_items_per_pass``). A result never depends on the other images.

Where it departs from facenet-pytorch, and why:

* The last NMS breaks ties between equal scores (frequent: float32 softmax saturates near
  1.0) per image, the later candidate first, as facenet does on one image's few boxes
  (numpy's sort is stable below 17 elements). In a batch facenet sorts all images'
  candidates together with numpy's unstable sort, so there the survivor of a tie depends on
  the other images; ours never does.
* A box with nothing inside the image is dropped before cropping; facenet skips its crop but
  keeps the box, so its boxes and scores no longer line up (not seen on LFW).
* IoU NMS (stages 1 and 2) and the NMS thresholds come from the options (facenet fixes the
  latter at 0.7, our defaults).

Coordinates: internally boxes are the reference's 1-based inclusive pixel boxes
``(x1, y1, x2, y2)`` (so its regression formulas, with their ``+1`` widths, apply
unchanged). They cover the continuous pixel-edge interval ``[x1 - 1, x2]``, which is what a
``Face`` reports (clipped to the image; facenet reports ``[x1, y1, x2, y2]`` unclipped);
landmarks are in the same pixel-edge coordinates, exactly as facenet-pytorch returns them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import batched_nms

from bench.assets import resolve
from bench.detectors.base import Detector, Face
from bench.detectors.mtcnn.nets import ONet, PNet, RNet, load_net
from bench.detectors.mtcnn.options import MTCNNOptions
from bench.runtime import Runtime

_NETS = ("pnet", "rnet", "onet")
#: P-Net's receptive field and stride: each output cell is one 12x12 window, 2 px apart.
_CELL, _STRIDE = 12, 2
#: NMS threshold among one scale's P-Net windows (fixed in the reference).
_PNET_SCALE_NMS = 0.5
#: Most images or crops in one forward pass on a GPU (bounds activation memory).
_MAX_ITEMS_PER_PASS = 4096
#: On the CPU a pass is cut smaller, to about this many floats of its first layer's output, so
#: that the activations stay in the cache: per crop R-Net ran 2.6 times and O-Net 2.2 times
#: faster in passes of 64 and 32 crops than in one pass of a batch's 1,800 and 300, P-Net 1.3
#: times faster on four 151x151 pyramid levels at a time than on 32.
_CPU_PASS_FLOATS = 2**20


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
    """The images of one size, stacked on the device, for P-Net's pyramid."""

    image_ids: torch.Tensor  # n, their indices in the batch
    pixels: torch.Tensor  # n x 3 x H x W float RGB 0..255


@dataclass
class _Batch:
    """A batch on the device: its size groups, and one summed-area table for all crops."""

    groups: list[_SizeGroup]
    #: The summed-area tables of all images as rows of RGB sums (see ``_summed_area``).
    integral: torch.Tensor
    base: torch.Tensor  # B, each image's first row in ``integral``
    stride: torch.Tensor  # B, rows per image line there (its width + 1)
    sizes: torch.Tensor  # B x 2, (width, height)


def _summed_area(images: np.ndarray) -> torch.Tensor:
    """Integer summed-area tables of ``n x H x W x 3`` uint8 images, flattened to rows of RGB.

    Row ``(i * (H + 1) + y) * (W + 1) + x`` holds image ``i``'s sums over ``[0, y) x [0, x)``.
    Integers keep the box sums exact whatever the image size: int32 while they fit, else
    float64 sums (exact below 2**53) made int64. OpenCV's ``integral`` builds them on the host
    about 40 times faster than two ``cumsum`` passes in PyTorch.
    """
    _, height, width, channels = images.shape
    fits = height * width * 255 < 2**31
    depth = cv2.CV_32S if fits else cv2.CV_64F
    tables = np.stack([cv2.integral(image, sdepth=depth) for image in images])
    table = torch.from_numpy(tables if fits else tables.astype(np.int64))
    return table.view(-1, channels)


def _area_crops(
    integral: torch.Tensor, base: torch.Tensor, stride: torch.Tensor, windows: torch.Tensor, size: int
) -> torch.Tensor:
    """Resample K pixel windows to ``size`` x ``size`` by area averaging, all in four gathers.

    The same numbers as ``F.interpolate(window, (size, size), mode="area")`` per window (the
    reference ``imresample``): output cell ``i`` averages input ``[floor(i * n / size),
    ceil((i + 1) * n / size))`` of a window ``n`` pixels long, on each axis. ``windows`` are
    ``K x 4`` 0-based half-open ``(x0, y0, x1, y1)``; ``base`` and ``stride`` locate each one's
    image in ``integral`` (``_summed_area``). Returns ``K x 3 x size x size``, channels-last.
    """
    cells = torch.arange(size + 1, device=windows.device)

    def edges(low: torch.Tensor, high: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        length = (high - low)[:, None]
        start = low[:, None] + cells[:-1] * length // size
        end = low[:, None] + (cells[1:] * length + size - 1) // size
        return start, end

    x0, x1 = edges(windows[:, 0], windows[:, 2])
    y0, y1 = edges(windows[:, 1], windows[:, 3])
    row0 = (base[:, None] + y0 * stride[:, None])[:, :, None]
    row1 = (base[:, None] + y1 * stride[:, None])[:, :, None]
    col0, col1 = x0[:, None, :], x1[:, None, :]

    def at(rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        return integral.index_select(0, (rows + cols).view(-1))

    sums = at(row1, col1) - at(row0, col1) - at(row1, col0) + at(row0, col0)
    counts = ((y1 - y0)[:, :, None] * (x1 - x0)[:, None, :]).view(-1, 1)
    crops = sums.float() / counts
    return crops.view(len(windows), size, size, -1).permute(0, 3, 1, 2)


def _min_nms(
    boxes: torch.Tensor, scores: torch.Tensor, image_ids: torch.Tensor, threshold: float
) -> torch.Tensor:
    """Greedy NMS per image on the "Min" overlap, as the reference's last stage; kept indices.

    Overlap is intersection over the smaller box, in the reference's inclusive pixel measure
    (``x2 - x1 + 1``), so a box lying inside a better one goes too. Each round keeps the best
    remaining box of every image at once, so the rounds are as many as faces in the busiest image.
    """
    if len(boxes) == 0:
        return torch.zeros((0,), dtype=torch.long, device=boxes.device)
    # Best first and, among equal scores, the later candidate first: what the reference's
    # ``np.argsort(scores)[-1]`` picks on one image's few boxes (numpy sorts those stably).
    order = torch.arange(len(boxes) - 1, -1, -1, device=boxes.device)
    order = order[torch.argsort(scores[order], descending=True, stable=True)]
    order = order[torch.argsort(image_ids[order], stable=True)]  # by image, best first
    boxes, image_ids = boxes[order], image_ids[order]
    area = (boxes[:, 2] - boxes[:, 0] + 1) * (boxes[:, 3] - boxes[:, 1] + 1)
    low = torch.maximum(boxes[:, None, :2], boxes[None, :, :2])
    high = torch.minimum(boxes[:, None, 2:], boxes[None, :, 2:])
    inter = (high - low + 1).clamp(min=0).prod(dim=2)
    overlap = inter / torch.minimum(area[:, None], area[None, :])
    suppresses = (overlap > threshold) & (image_ids[:, None] == image_ids[None, :])

    count = len(boxes)
    position = torch.arange(count, device=boxes.device)
    remaining = torch.ones(count, dtype=torch.bool, device=boxes.device)
    kept = torch.zeros_like(remaining)
    slots = int(image_ids.max()) + 1
    while bool(remaining.any()):
        best = torch.full((slots,), count, device=boxes.device).scatter_reduce(
            0, image_ids, torch.where(remaining, position, count), "amin"
        )
        leaders = best[best < count]
        kept[leaders] = True
        remaining &= ~suppresses[leaders].any(dim=0)
        remaining[leaders] = False
    return order[kept]


def _square(boxes: torch.Tensor) -> torch.Tensor:
    """The reference ``rerec``: grow each box to a square about its centre, on its longer side."""
    width = boxes[:, 2] - boxes[:, 0]
    height = boxes[:, 3] - boxes[:, 1]
    side = torch.maximum(width, height)
    x1 = boxes[:, 0] + width * 0.5 - side * 0.5
    y1 = boxes[:, 1] + height * 0.5 - side * 0.5
    return torch.stack([x1, y1, x1 + side, y1 + side], dim=1)


def _regress(boxes: torch.Tensor, offsets: torch.Tensor, plus_one: bool) -> torch.Tensor:
    """Shift each edge by its offset times the box size (the reference ``bbreg``).

    The reference measures P-Net boxes as ``x2 - x1`` and R-/O-Net boxes as ``x2 - x1 + 1``.
    """
    extra = 1.0 if plus_one else 0.0
    width = boxes[:, 2] - boxes[:, 0] + extra
    height = boxes[:, 3] - boxes[:, 1] + extra
    return boxes + offsets * torch.stack([width, height, width, height], dim=1)


class MTCNNDetector(Detector):
    """The three-stage MTCNN cascade with facenet-pytorch's converted Caffe weights.

    ``score_threshold`` holds the face-probability cut-offs of P-, R- and O-Net; ``nms_threshold``
    the overlap thresholds of the NMS after P-Net (across scales, IoU), R-Net (IoU) and O-Net
    ("Min" overlap). ``path`` is a
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

    def _detect(self, images: Sequence[np.ndarray]) -> list[list[Face]]:
        if len(images) == 0:
            return []

        with torch.inference_mode():
            batch = self._upload(images)
            candidates = self._propose(batch)
            if len(candidates):
                candidates = self._refine(batch, candidates)
            if len(candidates):
                candidates, landmarks = self._output(batch, candidates)
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

    def _upload(self, images: Sequence[np.ndarray]) -> _Batch:
        """Stack the images of each size and move them to the device as uint8 (cheapest copy)."""
        device = self._torch_device
        by_shape: dict[tuple[int, int], list[int]] = {}
        for index, image in enumerate(images):
            by_shape.setdefault(image.shape[:2], []).append(index)
        groups, tables = [], []
        base = torch.zeros(len(images), dtype=torch.long)
        stride = torch.zeros(len(images), dtype=torch.long)
        sizes = torch.zeros((len(images), 2), dtype=torch.long)
        offset = 0
        for (height, width), ids in by_shape.items():
            stacked = np.stack([images[i] for i in ids])
            pixels = torch.from_numpy(stacked).to(device).permute(0, 3, 1, 2).float().contiguous()
            groups.append(_SizeGroup(image_ids=torch.tensor(ids, device=device), pixels=pixels))
            tables.append(_summed_area(stacked).to(device))
            rows = (height + 1) * (width + 1)
            base[ids] = offset + torch.arange(len(ids)) * rows
            stride[ids] = width + 1
            sizes[ids] = torch.tensor([width, height])
            offset += len(ids) * rows
        integral = tables[0] if len(tables) == 1 else torch.cat(tables)
        return _Batch(groups, integral, base.to(device), stride.to(device), sizes.to(device))

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

    def _propose(self, batch: _Batch) -> _Candidates:
        """Stage 1: P-Net windows over the pyramid, merged per image, regressed and squared."""
        boxes, scores, offsets, image_ids = [], [], [], []
        for group in batch.groups:
            pixels = group.pixels
            height, width = pixels.shape[2:]
            for scale in self._scales(height, width):
                size = (int(height * scale + 1), int(width * scale + 1))
                outputs = [
                    self.pnet(F.interpolate(chunk, size=size, mode="area"))
                    for chunk in pixels.split(self._items_per_pass(self.pnet, *size))
                ]
                prob, reg = (torch.cat(parts) for parts in zip(*outputs, strict=True))
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
        candidates.boxes = _square(_regress(candidates.boxes, all_offsets[keep], False))
        return candidates

    def _refine(self, batch: _Batch, candidates: _Candidates) -> _Candidates:
        """Stage 2: R-Net rescoring and regression of the P-Net candidates."""
        candidates, windows = self._windows(batch, candidates)
        if not len(candidates):
            return candidates
        prob, reg = self._run(self.rnet, batch, windows, candidates.image_ids, 24)
        passed = (prob > self.thresholds[1]).nonzero().squeeze(1)
        candidates = _Candidates(candidates.boxes[passed], prob[passed], candidates.image_ids[passed])
        keep = batched_nms(candidates.boxes, candidates.scores, candidates.image_ids, self.nms_thresholds[1])
        candidates = candidates.take(keep)
        candidates.boxes = _square(_regress(candidates.boxes, reg[passed][keep], True))
        return candidates

    def _output(self, batch: _Batch, candidates: _Candidates) -> tuple[_Candidates, torch.Tensor]:
        """Stage 3: O-Net scores, landmarks (relative to the box, not the clipped crop), final boxes."""
        candidates, windows = self._windows(batch, candidates)
        if not len(candidates):
            return candidates, candidates.boxes.new_zeros((0, 5, 2))
        prob, reg, marks = self._run(self.onet, batch, windows, candidates.image_ids, 48)
        passed = (prob > self.thresholds[2]).nonzero().squeeze(1)
        boxes, marks = candidates.boxes[passed], marks[passed]
        # The box spans [x1 - 1, x2] in pixel-edge coordinates.
        origin = boxes[:, :2] - 1.0
        size = boxes[:, 2:] - boxes[:, :2] + 1.0
        landmarks = torch.stack([marks[:, :5], marks[:, 5:]], dim=2) * size[:, None] + origin[:, None]
        candidates = _Candidates(
            _regress(boxes, reg[passed], True), prob[passed], candidates.image_ids[passed]
        )
        keep = _min_nms(candidates.boxes, candidates.scores, candidates.image_ids, self.nms_thresholds[2])
        return candidates.take(keep), landmarks[keep]

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _windows(batch: _Batch, candidates: _Candidates) -> tuple[_Candidates, torch.Tensor]:
        """The pixel window each candidate's crop reads, dropping boxes wholly outside their image.

        As the reference (``pad``): the box truncated to whole pixels and clipped to the image,
        so a box crossing the border is cropped to its inside part, then stretched to the square.
        Windows are 0-based half-open ``(x0, y0, x1, y1)``. The reference cannot crop a box with
        nothing inside (it would misalign its crops and scores); such a box is no face, so it goes.
        """
        corners = torch.trunc(candidates.boxes).long()
        sizes = batch.sizes[candidates.image_ids]
        windows = torch.cat([corners[:, :2].clamp(min=1) - 1, torch.minimum(corners[:, 2:], sizes)], dim=1)
        inside = ((windows[:, 2:] - windows[:, :2]) > 0).all(dim=1)
        if bool(inside.all()):
            return candidates, windows
        kept = inside.nonzero().squeeze(1)
        return candidates.take(kept), windows[kept]

    def _items_per_pass(self, net: nn.Module, height: int, width: int) -> int:
        """Images or crops of ``height`` x ``width`` in one pass of ``net`` (see ``_CPU_PASS_FLOATS``)."""
        if self._torch_device.type != "cpu":
            return _MAX_ITEMS_PER_PASS
        first = net.conv1
        floats = first.out_channels * (height - first.kernel_size[0] + 1) * (width - first.kernel_size[1] + 1)
        return max(1, min(_MAX_ITEMS_PER_PASS, _CPU_PASS_FLOATS // floats))

    def _run(
        self, net: nn.Module, batch: _Batch, windows: torch.Tensor, image_ids: torch.Tensor, size: int
    ) -> tuple[torch.Tensor, ...]:
        """Crop the windows to ``size`` x ``size`` and run ``net`` on them, pass by pass."""
        per_pass = self._items_per_pass(net, size, size)
        outputs = [
            net(_area_crops(batch.integral, batch.base[ids], batch.stride[ids], chunk, size))
            for chunk, ids in zip(windows.split(per_pass), image_ids.split(per_pass), strict=True)
        ]
        return tuple(torch.cat(parts) for parts in zip(*outputs, strict=True))
