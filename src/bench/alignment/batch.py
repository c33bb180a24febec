"""Align a whole batch of faces at once: OpenCV on the CPU, one batched warp on a GPU.

On the CPU one ``cv2.warpAffine`` per face is the fastest path and is exactly ``align_face``.
On a GPU the per-face round trips dominate, so images go up as ``uint8`` (4x less traffic than
float), equal-sized images are stacked, and each stack is warped by a single
``affine_grid`` + ``grid_sample`` call that reproduces ``cv2.warpAffine(..., INTER_LINEAR,
borderValue=0)`` to within one grey level (a rounding tie), border pixels included.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from bench.alignment.template import ALIGNED_SIZE, ARCFACE_112, Template
from bench.alignment.warp import face_transform
from bench.detectors.base import Face

BACKENDS = ("auto", "opencv", "torch")


def _pixel_to_normalized(height: int, width: int, like: torch.Tensor) -> torch.Tensor:
    """The 3x3 map from pixel coordinates (pixel centres at integers, as in OpenCV) to
    ``grid_sample``'s ``align_corners=False`` coordinates, where -1 and 1 are the outer edges
    of the border pixels: ``u = (2 x + 1) / W - 1``."""
    return like.new_tensor(
        [[2.0 / width, 0.0, 1.0 / width - 1.0], [0.0, 2.0 / height, 1.0 / height - 1.0], [0.0, 0.0, 1.0]]
    )


def warp_affine_torch(images: torch.Tensor, matrices: torch.Tensor, size: int) -> torch.Tensor:
    """``cv2.warpAffine(image, matrix, (size, size), INTER_LINEAR, borderValue=0)`` for a batch.

    ``images`` is ``(B, H, W, C)`` ``uint8``; ``matrices`` is ``(B, 2, 3)`` and maps source pixel
    coordinates to output pixel coordinates, as ``face_transform`` returns them. The result is
    ``(B, size, size, C)`` ``uint8`` on the images' device. ``affine_grid`` wants the inverse map
    (output -> source) in normalised coordinates, so the matrix is inverted and conjugated by
    the pixel <-> normalised maps of the output and the source, in float64 for accuracy.
    """
    if images.dtype != torch.uint8 or images.ndim != 4:
        raise ValueError(f"images must be (B, H, W, C) uint8, got {tuple(images.shape)} {images.dtype}")
    if matrices.shape != (len(images), 2, 3):
        raise ValueError(f"matrices must be ({len(images)}, 2, 3), got {tuple(matrices.shape)}")
    batch, height, width, channels = images.shape
    if batch == 0:
        return images.new_empty((0, size, size, channels))
    forward = matrices.to(device=images.device, dtype=torch.float64)
    last_row = forward.new_tensor([0.0, 0.0, 1.0]).expand(batch, 1, 3)
    inverse = torch.linalg.inv(torch.cat([forward, last_row], dim=1))
    to_source = _pixel_to_normalized(height, width, forward)
    from_output = torch.linalg.inv(_pixel_to_normalized(size, size, forward))
    theta = (to_source @ inverse @ from_output)[:, :2].float()
    grid = F.affine_grid(theta, [batch, channels, size, size], align_corners=False)
    source = images.permute(0, 3, 1, 2).float()
    warped = F.grid_sample(source, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return warped.round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous()


class BatchAligner:
    """Aligns one face per image onto ``template`` in a ``size`` x ``size`` crop (the recognition
    model's input), a batch at a time.

    ``backend`` ``"auto"`` picks OpenCV on the CPU and the torch warp elsewhere; ``"torch"`` on
    the CPU exists so that the GPU code path can be tested without a GPU. ``align`` returns an
    ``(N, size, size, 3)`` ``uint8`` numpy array from OpenCV, or a tensor on ``device`` from
    torch, in input order. ``device`` is the run's ``Runtime.device``, already checked to exist.
    ``pin_memory`` stages uploads to a CUDA device in page-locked memory
    so that they run asynchronously; elsewhere it has nothing to do and is ignored.
    """

    def __init__(
        self,
        device: torch.device | str = "cpu",
        size: int = ALIGNED_SIZE,
        pin_memory: bool = False,
        backend: str = "auto",
        template: Template = ARCFACE_112,
    ) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"unknown alignment backend {backend!r}; choose from {list(BACKENDS)}")
        if size < 1:
            raise ValueError(f"size must be at least 1, got {size}")
        target = torch.device(device)
        if backend == "opencv" and target.type != "cpu":
            raise ValueError(f"the opencv backend runs on the CPU only, not on {device!r}")
        #: The device the faces are warped on (a runtime's concrete device, e.g. ``cuda:0``).
        self.device = str(target)
        #: The backend actually used: ``"opencv"`` or ``"torch"``.
        self.backend = backend if backend != "auto" else ("opencv" if target.type == "cpu" else "torch")
        self.size = size
        self.template = template
        self.pin_memory = pin_memory and target.type == "cuda"

    def align(self, images: Sequence[np.ndarray], faces: Sequence[Face]) -> np.ndarray | torch.Tensor:
        """Warp ``faces[i]`` out of ``images[i]``; see the class docstring for the result."""
        if len(images) != len(faces):
            raise ValueError(f"one face per image: got {len(images)} images and {len(faces)} faces")
        for index, image in enumerate(images):
            if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
                raise ValueError(f"image {index} must be HxWx3 uint8 RGB, got {image.shape} {image.dtype}")
        if self.backend == "opencv":
            return self._align_opencv(images, faces)
        return self._align_torch(images, faces)

    def _align_opencv(self, images: Sequence[np.ndarray], faces: Sequence[Face]) -> np.ndarray:
        out = np.empty((len(images), self.size, self.size, 3), dtype=np.uint8)
        for index, (image, face) in enumerate(zip(images, faces, strict=True)):
            out[index] = cv2.warpAffine(
                image,
                face_transform(face, self.size, self.template),
                (self.size, self.size),
                flags=cv2.INTER_LINEAR,
                borderValue=0,
            )
        return out

    def _align_torch(self, images: Sequence[np.ndarray], faces: Sequence[Face]) -> torch.Tensor:
        out = torch.empty((len(images), self.size, self.size, 3), dtype=torch.uint8, device=self.device)
        groups: defaultdict[tuple[int, ...], list[int]] = defaultdict(list)
        for index, image in enumerate(images):
            groups[image.shape].append(index)
        for indices in groups.values():
            # Stacked straight into page-locked memory when pinning: one host copy, not two.
            stack = torch.empty(
                (len(indices), *images[indices[0]].shape), dtype=torch.uint8, pin_memory=self.pin_memory
            )
            np.stack([images[i] for i in indices], out=stack.numpy())
            matrices = torch.from_numpy(
                np.stack([face_transform(faces[i], self.size, self.template) for i in indices])
            )
            if self.pin_memory:
                matrices = matrices.pin_memory()
            stack = stack.to(self.device, non_blocking=self.pin_memory)
            matrices = matrices.to(self.device, non_blocking=self.pin_memory)
            out[torch.tensor(indices, device=self.device)] = warp_affine_torch(stack, matrices, self.size)
        return out
