"""The three MTCNN networks (Zhang et al., 2016), laid out to load facenet-pytorch's weights.

Parameter names and shapes match the state dicts facenet-pytorch 2.6.0 ships
(``pnet.pt``, ``rnet.pt``, ``onet.pt``), so they load with ``strict=True``.

Those weights come from the original Caffe model, which saw images transposed (MATLAB's
column-major layout). The conversion already transposed the convolution kernels, so the
convolutions take ordinary ``N x 3 x H x W`` images; only the fully connected layers still
expect the Caffe flattening order, which is why R-Net and O-Net flatten their last feature
map as ``N x W x H x C`` (``permute(0, 3, 2, 1)``). Landmarks come out as five x offsets
then five y offsets, each a fraction of the input crop; a check on real faces confirms the
orientation (see ``tests/test_mtcnn.py``).

Every net takes RGB in ``0..255`` and normalises it itself, ``(x - 127.5) / 128``, so that
callers cannot forget it or apply it twice.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn


def normalise(images: torch.Tensor) -> torch.Tensor:
    """Map RGB ``0..255`` to the range the Caffe model was trained on.

    On CPU the result is channels-last: oneDNN's convolutions and the max-pooling run about
    twice as fast on these few-channel maps that way (same numbers to ~1e-6).
    """
    x = (images - 127.5) * 0.0078125
    if x.device.type == "cpu":
        x = x.contiguous(memory_format=torch.channels_last)
    return x


class CeilMaxPool2d(nn.Module):
    """``nn.MaxPool2d(kernel, stride, ceil_mode=True)``, the same numbers, faster on the CPU.

    PyTorch's CPU max-pooling on these few-channel channels-last maps also works out the
    argmax indices; on the CPU the window maximum is taken instead as a running
    ``torch.maximum`` over strided views, along the rows then the columns, on a map padded with
    ``-inf`` to whole windows: 3.5 times faster on P-Net's first map, a little faster elsewhere.
    """

    def __init__(self, kernel: int, stride: int) -> None:
        super().__init__()
        self.kernel, self.stride = kernel, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cpu":
            return F.max_pool2d(x, self.kernel, self.stride, ceil_mode=True)
        height, width = x.shape[-2:]
        rows = -(-(height - self.kernel) // self.stride) + 1
        cols = -(-(width - self.kernel) // self.stride) + 1
        pad_rows = (rows - 1) * self.stride + self.kernel - height
        pad_cols = (cols - 1) * self.stride + self.kernel - width
        if pad_rows or pad_cols:
            x = F.pad(x, (0, pad_cols, 0, pad_rows), value=float("-inf"))
        row_span = (rows - 1) * self.stride + 1
        col_span = (cols - 1) * self.stride + 1
        across = x[..., : col_span : self.stride]
        for offset in range(1, self.kernel):
            across = torch.maximum(across, x[..., offset : offset + col_span : self.stride])
        pooled = across[..., : row_span : self.stride, :]
        for offset in range(1, self.kernel):
            pooled = torch.maximum(pooled, across[..., offset : offset + row_span : self.stride, :])
        return pooled


def _flatten_caffe(features: torch.Tensor) -> torch.Tensor:
    """Flatten ``N x C x H x W`` in the (transposed) order the dense weights were trained on."""
    return features.permute(0, 3, 2, 1).reshape(features.shape[0], -1)


class PNet(nn.Module):
    """Proposal net: fully convolutional, one 12x12 window per output cell at stride 2.

    Returns ``(face_prob, box_reg)``: ``N x H' x W'`` and ``N x 4 x H' x W'``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 10, kernel_size=3)
        self.prelu1 = nn.PReLU(10)
        self.pool1 = CeilMaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(10, 16, kernel_size=3)
        self.prelu2 = nn.PReLU(16)
        self.conv3 = nn.Conv2d(16, 32, kernel_size=3)
        self.prelu3 = nn.PReLU(32)
        self.conv4_1 = nn.Conv2d(32, 2, kernel_size=1)
        self.conv4_2 = nn.Conv2d(32, 4, kernel_size=1)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = normalise(images)
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.prelu2(self.conv2(x))
        x = self.prelu3(self.conv3(x))
        face_prob = torch.softmax(self.conv4_1(x), dim=1)[:, 1]
        return face_prob, self.conv4_2(x)


class RNet(nn.Module):
    """Refinement net on 24x24 crops. Returns ``(face_prob, box_reg)``: ``N`` and ``N x 4``."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 28, kernel_size=3)
        self.prelu1 = nn.PReLU(28)
        self.pool1 = CeilMaxPool2d(3, 2)
        self.conv2 = nn.Conv2d(28, 48, kernel_size=3)
        self.prelu2 = nn.PReLU(48)
        self.pool2 = CeilMaxPool2d(3, 2)
        self.conv3 = nn.Conv2d(48, 64, kernel_size=2)
        self.prelu3 = nn.PReLU(64)
        self.dense4 = nn.Linear(576, 128)
        self.prelu4 = nn.PReLU(128)
        self.dense5_1 = nn.Linear(128, 2)
        self.dense5_2 = nn.Linear(128, 4)

    def forward(self, crops: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = normalise(crops)
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.prelu3(self.conv3(x))
        x = self.prelu4(self.dense4(_flatten_caffe(x)))
        face_prob = torch.softmax(self.dense5_1(x), dim=1)[:, 1]
        return face_prob, self.dense5_2(x)


class ONet(nn.Module):
    """Output net on 48x48 crops.

    Returns ``(face_prob, box_reg, landmarks)``: ``N``, ``N x 4`` and ``N x 10`` (five x
    fractions of the crop width, then five y fractions of its height).
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, kernel_size=3)
        self.prelu1 = nn.PReLU(32)
        self.pool1 = CeilMaxPool2d(3, 2)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3)
        self.prelu2 = nn.PReLU(64)
        self.pool2 = CeilMaxPool2d(3, 2)
        self.conv3 = nn.Conv2d(64, 64, kernel_size=3)
        self.prelu3 = nn.PReLU(64)
        self.pool3 = CeilMaxPool2d(2, 2)
        self.conv4 = nn.Conv2d(64, 128, kernel_size=2)
        self.prelu4 = nn.PReLU(128)
        self.dense5 = nn.Linear(1152, 256)
        self.prelu5 = nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)
        self.dense6_2 = nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)

    def forward(self, crops: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = normalise(crops)
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.pool3(self.prelu3(self.conv3(x)))
        x = self.prelu4(self.conv4(x))
        x = self.prelu5(self.dense5(_flatten_caffe(x)))
        face_prob = torch.softmax(self.dense6_1(x), dim=1)[:, 1]
        return face_prob, self.dense6_2(x), self.dense6_3(x)


def load_net(net: nn.Module, path: str | Path, device: torch.device) -> nn.Module:
    """Load a state dict strictly (a wrong file fails loudly), freeze it and move it to ``device``."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    net.load_state_dict(state, strict=True)
    net.requires_grad_(False)
    return net.eval().to(device)
