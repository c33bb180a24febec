"""The ``dlib`` family's factory and forward (``bench.models.dlib_family`` registers them):
dlib's face recognition ResNet, run by dlib, behind the common ``Embedder``.

The embedder hands the forward float NCHW faces already scaled by the family's ``InputSpec``
(mean 0, std 1: the 0..255 values themselves, whole numbers); the forward turns them back into
the exact ``uint8`` HWC RGB chips and calls dlib's batch overload for aligned chips,
``compute_face_descriptor(chips, num_jitters=0)``, once per batch. dlib runs its own batches of
16 through the network, and a chip's descriptor does not depend on its batch (tested).

Threads: the ``dlib-bin`` wheel is built with AVX and without BLAS, LAPACK or CUDA
(``dlib.DLIB_USE_BLAS`` etc.). Its CPU convolutions and matrix products run on the calling
thread, so this network uses one core whatever ``hardware.embed_threads`` says (measured: CPU
time equals wall time; ``DLIB_NUM_THREADS`` sizes a pool none of these layers use). The call
also holds the GIL throughout (dlib's Python binding does not release it), so while a batch
runs, other Python threads of the pipeline wait, and a second recognition worker
(``pipeline.embed_workers``) adds nothing; one lock keeps calls on the one network sequential
should a later dlib release the GIL, as its network object is not thread-safe. About 80 ms a
face at any batch size on a 2-core Intel Xeon: a full LFW run is dlib-bound.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import torch

from bench.config import ModelConfig, Precision
from bench.models.dlib_family import DLIB, dlib_weights
from bench.models.embedder import Embedder
from bench.models.registry import EmbedSettings
from bench.models.similarity import similarity_named
from bench.runtime import Runtime

#: What describe() reports as the layout.
ARCH = "dlib_resnet_v1"

# The network (dlib's tools/python/src/face_recognition.cpp, ``anet_type``), as
# (output channels, stride, residual blocks) per stage after a 7x7/2 convolution to 32 channels
# and a 3x3/2 max pool; each block is two 3x3 convolutions (the first with the stage's stride)
# with per-channel affine layers (frozen batch norm); the shortcut of a strided block is an
# average pool, zero-padded to the new channels (no weights). Average pooling, then a 128-wide
# fully connected layer without bias.
_STEM_CHANNELS, _STEM_KERNEL = 32, 7
_STAGES = ((32, 1, 3), (64, 2, 4), (128, 2, 3), (256, 2, 3), (256, 2, 1))


def _conv_out(size: int, kernel: int, stride: int) -> int:
    """dlib pads a stride-1 layer by kernel // 2 and a strided one not at all."""
    padding = kernel // 2 if stride == 1 else 0
    return (size + 2 * padding - kernel) // stride + 1


def network_complexity(size: int = DLIB.input.size) -> tuple[int, int]:
    """Parameters and FLOPs (a multiply-add is two) of one face, counted from the layout: 29
    convolutions, 5,614,592 parameters, which at 4 bytes each is the model file's size within
    8 KB of serialisation overhead (tested)."""
    parameters = 0
    macs = 0
    channels, side = 3, size

    def conv(out: int, kernel: int, stride: int) -> None:
        nonlocal parameters, macs, channels, side
        side = _conv_out(side, kernel, stride)
        parameters += out * channels * kernel * kernel + out + 2 * out  # weights, bias, affine
        macs += side * side * out * channels * kernel * kernel
        channels = out

    conv(_STEM_CHANNELS, _STEM_KERNEL, 2)
    side = _conv_out(side, 3, 2)  # max pool
    for out, stride, blocks in _STAGES:
        for block in range(blocks):
            conv(out, 3, stride if block == 0 else 1)
            conv(out, 3, 1)
    parameters += channels * DLIB.embedding_dim
    macs += channels * DLIB.embedding_dim
    return parameters, 2 * macs


class DlibForward:
    """The network on dlib: float NCHW chips of whole 0..255 values in, ``(N, 128)`` raw
    descriptors out."""

    backend = "dlib"
    input_device = torch.device("cpu")

    def __init__(self, path: Path) -> None:
        import dlib

        self.path = path
        self.dlib_version = dlib.__version__
        self.model = dlib.face_recognition_model_v1(str(path))
        self._lock = threading.Lock()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        chips = _chips(x)
        if not chips:
            return torch.zeros((0, DLIB.embedding_dim), dtype=torch.float32)
        with self._lock:
            descriptors = self.model.compute_face_descriptor(chips, num_jitters=0)
        # dlib computes in float and returns doubles: back to float32 without loss.
        return torch.from_numpy(np.array(descriptors, dtype=np.float32).reshape(len(chips), -1))

    def describe(self) -> dict[str, str]:
        return {
            "model_backend": self.backend,
            "model_dlib_version": self.dlib_version,
            "model_onnx": "none",
            "model_onnx_provider": "none",
            "model_channels_last": "false",
        }


def _chips(x: torch.Tensor) -> list[np.ndarray]:
    """``(N, 3, 150, 150)`` float faces back to dlib's ``uint8`` HWC RGB chips, exactly: values
    that are not whole numbers in 0..255 mean another scaling, refused rather than rounded. In
    numpy: torch's own pool would spin beside dlib's thread after each op."""
    size = DLIB.input.size
    if x.ndim != 4 or tuple(x.shape[1:]) != (3, size, size):
        raise ValueError(f"dlib's network takes (N, 3, {size}, {size}) faces, got {tuple(x.shape)}")
    faces = x.detach().cpu().numpy().transpose(0, 2, 3, 1)
    if faces.size and (faces.min() < 0 or faces.max() > 255 or not np.array_equal(faces, np.rint(faces))):
        raise ValueError(
            "dlib's network takes the chips' 0..255 values as they are (InputSpec mean 0, std 1); "
            "got values that are not whole numbers in 0..255"
        )
    # Each row of a C-contiguous (N, H, W, 3) array is itself C-contiguous, as dlib needs.
    return list(np.ascontiguousarray(faces, dtype=np.uint8))


class DlibEmbedder(Embedder):
    """An ``Embedder`` whose MFLOPs come from dlib's layout, not from EdgeFace's counter."""

    def _mflops(self) -> str:
        return f"{network_complexity()[1] / 1e6:.2f}"


def create_dlib_embedder(model: ModelConfig, runtime: Runtime, settings: EmbedSettings) -> Embedder:
    """The ``dlib`` family's factory (settings it cannot honour are refused by
    ``ModelFamily.check`` before)."""
    path = dlib_weights(model)
    forward = DlibForward(path)
    return DlibEmbedder(
        forward,
        name=model.name,
        arch=ARCH,
        weights=path,
        num_parameters=network_complexity()[0],
        flip=model.flip,
        device=runtime.device_name,
        precision=Precision.fp32,
        kernels="fp32: dlib's own CPU kernels (AVX, no BLAS), one thread",
        batch_size=settings.batch_size,
        input_spec=DLIB.input,
        embedding_dim=DLIB.embedding_dim,
        unit_length=similarity_named(DLIB.similarity).unit_length,
    )
