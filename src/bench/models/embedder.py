"""Aligned faces in, unit-length identity embeddings out.

A recognition family's factory (``bench.models.registry``; EdgeFace's is
``create_edgeface_embedder``) turns a ``model`` config and the run's ``Runtime`` into an
``Embedder``; the embedder owns input checks, batching, device transfer, preprocessing (its
family's ``InputSpec``) and flip fusion, so every caller compares embeddings produced the same
way whatever runs the network.
The network runs behind a small backend with one job, float NCHW faces in, raw features out:
``TorchForward`` (PyTorch: CUDA, mixed precision, int8 models) or ``OnnxForward`` (ONNX
Runtime on an exported graph: ~1.5x faster than PyTorch eager for float models on the CPU).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bench.backends.onnx import OnnxSession
from bench.config import EmbedBackend, ModelConfig, Precision
from bench.models.complexity import complexity
from bench.models.edgeface import (
    EMBEDDING_DIM,
    VARIANTS,
    count_parameters,
    load_edgeface,
    weights_path,
)
from bench.models.kernels import choose_precision
from bench.models.onnx_export import (
    GRAPH_ARCH,
    GRAPH_PARAMETERS,
    GRAPH_RANK_RATIO,
    export_onnx,
    graph_metadata,
    graph_parameters,
)
from bench.models.registry import model_family
from bench.models.similarity import similarity_named
from bench.models.spec import InputSpec
from bench.runtime import Runtime

if TYPE_CHECKING:
    from bench.models.registry import EmbedSettings

log = logging.getLogger(__name__)

PRECISIONS: dict[Precision, torch.dtype] = {
    Precision.fp32: torch.float32,
    Precision.fp16: torch.float16,
    Precision.bf16: torch.bfloat16,
}


#: The ``arch`` of an ONNX graph made elsewhere whose layout the config does not name.
UNKNOWN_ARCH = "unknown"


class Forward(Protocol):
    """A backend: preprocessed ``(N, 3, size, size)`` float32 faces in, ``(N, D)`` float32
    features (not yet normalised) out."""

    #: ``"torch"`` or ``"onnxruntime"``.
    backend: str
    #: The device ``__call__`` wants its input on.
    input_device: torch.device

    def __call__(self, x: torch.Tensor) -> torch.Tensor: ...

    def describe(self) -> dict[str, str]: ...


class TorchForward:
    """The PyTorch module, optionally under autocast and in channels_last memory format."""

    backend = "torch"

    def __init__(
        self,
        model: nn.Module,
        *,
        device: str,
        precision: str = "fp32",
        quantized: bool = False,
        channels_last: bool = False,
    ) -> None:
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.model = model.to(device, memory_format=self.memory_format).eval()
        self.input_device = torch.device(device)
        self.precision = precision
        self.quantized = quantized

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous(memory_format=self.memory_format)
        with self._autocast():
            if self.quantized:
                # Dynamic int8 picks each linear layer's activation scale from the whole input
                # tensor, i.e. from every face in the batch: batched, a face's embedding would
                # depend on its neighbours (cosine down to ~0.93 against itself on LFW). One face
                # per forward keeps scores reproducible; on one CPU thread it costs ~20% more
                # time, with several threads more, as such small forwards wait on thread barriers.
                return torch.cat([self.model(x[i : i + 1]).float() for i in range(len(x))])
            return self.model(x).float()

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.precision == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.input_device.type, dtype=PRECISIONS[self.precision])

    def describe(self) -> dict[str, str]:
        return {
            "model_backend": self.backend,
            "model_onnx": "none",
            "model_onnx_provider": "none",
            "model_channels_last": str(self.memory_format == torch.channels_last).lower(),
        }


class OnnxForward:
    """An exported fp32 graph on ONNX Runtime (CPU, or CUDA then CPU on a CUDA device)."""

    backend = "onnxruntime"

    #: ONNX Runtime takes host arrays; with the CUDA provider it uploads them itself.
    input_device = torch.device("cpu")

    def __init__(self, path: Path, runtime: Runtime) -> None:
        self.path = path
        # OnnxSession refuses a silent fall-back from CUDA to the CPU provider.
        self.session = OnnxSession(path, runtime, runtime.embed_threads)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        (features,) = self.session.run(x.contiguous().numpy())
        return torch.from_numpy(features)

    def describe(self) -> dict[str, str]:
        return {
            "model_backend": self.backend,
            "model_onnx": str(self.path),
            "model_onnx_provider": self.session.provider,
            "model_channels_last": "false",
        }


@dataclass(frozen=True)
class Embedded:
    """Faces embedded, with what the network says of each one's quality (``embed_measured``)."""

    #: ``(N, D)`` float32, as ``Embedder.embed`` returns them.
    vectors: np.ndarray
    #: ``(N,)`` the L2 norm of the features before normalising: a low norm marks a face the
    #: network is unsure of (the observation MagFace builds on).
    norms: np.ndarray
    #: ``(N,)`` the cosine between the face's features and its mirror image's: how stable its
    #: identity is under a change that keeps it (in the spirit of SER-FIQ); ``None`` unless asked.
    mirror_agreement: np.ndarray | None

    def fill(self, rows: slice, part: Embedded) -> None:
        self.vectors[rows], self.norms[rows] = part.vectors, part.norms
        if self.mirror_agreement is not None and part.mirror_agreement is not None:
            self.mirror_agreement[rows] = part.mirror_agreement


class Embedder:
    """A loaded recognition network plus the exact recipe that feeds it.

    ``embed`` takes ``(N, size, size, 3)`` ``uint8`` RGB faces, as a numpy array or a torch tensor
    (e.g. already on the GPU), and returns ``(N, embedding_dim)`` float32 rows: of unit L2 norm
    when ``unit_length`` (a cosine similarity is then a plain dot product), raw otherwise (a
    family compared by Euclidean distance, ``bench.models.similarity``). A face's embedding does
    not depend on the batch it came in (int8 models therefore run one face per forward).
    """

    def __init__(
        self,
        forward: Forward,
        *,
        name: str,
        arch: str,
        weights: Path,
        num_parameters: int,
        quantized: bool = False,
        rank_ratio: float | None = None,
        flip: bool = False,
        device: str = "cpu",
        precision: str = "fp32",
        kernels: str = "",
        batch_size: int = 128,
        pin_memory: bool = False,
        input_spec: InputSpec = InputSpec(),  # noqa: B008 (a frozen dataclass)
        embedding_dim: int = EMBEDDING_DIM,
        unit_length: bool = True,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.forward = forward
        self.name = name
        self.arch = arch
        self.weights = weights
        self.num_parameters = num_parameters
        self.quantized = quantized
        self.rank_ratio = rank_ratio
        self.flip = flip
        #: The device that actually runs the model, e.g. ``"cpu"`` or ``"cuda:0"``.
        self.device = device
        self.precision = precision
        #: Why it runs in that precision (``bench.models.kernels``).
        self.kernels = kernels
        self.batch_size = batch_size
        #: How often a batch was halved after running out of GPU memory.
        self.oom_halvings = 0
        self.pin_memory = pin_memory
        self.input_spec = input_spec
        self.embedding_dim = embedding_dim
        self.unit_length = unit_length
        # A reusable pinned staging buffer per calling thread (the pipeline may embed on several):
        # host -> GPU copies from it can run asynchronously, and reusing it is safe because
        # every batch ends with a synchronising copy back to the host.
        self._staging = threading.local()

    @property
    def backend(self) -> str:
        """``"torch"`` or ``"onnxruntime"``."""
        return self.forward.backend

    def embed(self, faces: np.ndarray | torch.Tensor) -> np.ndarray:
        """Embed aligned faces; see the class docstring for shapes."""
        return self.embed_measured(faces).vectors

    def embed_measured(self, faces: np.ndarray | torch.Tensor, mirror: bool = False) -> Embedded:
        """``embed``'s rows with what the network says of each face's quality: the features'
        norm before normalising, and with ``mirror`` the cosine between the face's features and
        its mirror image's (one more forward a face, none with flip fusion, which runs both)."""
        faces = _as_uint8_tensor(faces, self.input_spec.face_shape)
        out = Embedded(
            np.empty((len(faces), self.embedding_dim), dtype=np.float32),
            np.empty(len(faces), dtype=np.float32),
            np.empty(len(faces), dtype=np.float32) if mirror or self.flip else None,
        )
        start = 0
        with torch.inference_mode():
            while start < len(faces):
                batch = faces[start : start + self.batch_size]
                try:
                    measured = self._embed_batch(batch, mirror)
                except torch.OutOfMemoryError:
                    self._halve_batch(len(batch))
                    continue
                out.fill(slice(start, start + len(batch)), measured)
                start += len(batch)
        return out

    def _halve_batch(self, failed: int) -> None:
        """A batch did not fit on the GPU: retry it in halves, and keep the smaller size for
        the rest of the run (recorded in ``describe``). One face that does not fit is an error."""
        if failed <= 1:
            raise
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        self.batch_size = max(1, failed // 2)
        self.oom_halvings += 1
        log.warning("out of GPU memory embedding %d faces: batch size halved to %d", failed, self.batch_size)

    def _embed_batch(self, faces: torch.Tensor, mirror: bool) -> Embedded:
        # uint8 crosses to the device (4x less traffic than float), then NHWC -> NCHW and the
        # family's normalisation ((x/255 - 0.5) / 0.5 for EdgeFace); the same torch ops for every
        # backend, so backends differ in the network only.
        spec = self.input_spec
        x = self._to_input_device(faces).permute(0, 3, 1, 2)
        if spec.channels == "BGR":
            x = x.flip(1)
        x = x.float().div_(spec.std).sub_(spec.mean / spec.std)
        features = self.forward(x)
        agreement = None
        if mirror or self.flip:
            mirrored = self.forward(torch.flip(x, dims=[3]))
            agreement = F.cosine_similarity(features.float(), mirrored.float(), dim=1).cpu().numpy()
            if self.flip:
                # Flip fusion: sum with the mirrored face's embedding (before normalising), a
                # cheap test-time augmentation that the EdgeFace numbers "with flip" use.
                features = features + mirrored
        norms = torch.linalg.vector_norm(features.float(), dim=1).cpu().numpy()
        if self.unit_length:
            features = F.normalize(features, dim=1)
        return Embedded(features.cpu().numpy(), norms, agreement)

    def _to_input_device(self, faces: torch.Tensor) -> torch.Tensor:
        target = self.forward.input_device
        if faces.device == target:
            return faces
        if self.pin_memory and faces.device.type == "cpu":
            staging = self._pinned_buffer()[: len(faces)]
            staging.copy_(faces)
            return staging.to(target, non_blocking=True)
        return faces.to(target)

    def _pinned_buffer(self) -> torch.Tensor:
        buffer = getattr(self._staging, "buffer", None)
        if buffer is None:
            buffer = torch.empty(
                (self.batch_size, *self.input_spec.face_shape), dtype=torch.uint8, pin_memory=True
            )
            self._staging.buffer = buffer
        return buffer

    def describe(self) -> dict[str, str]:
        """What actually ran, logged with the run."""
        return {
            "model": self.name,
            "model_arch": self.arch,
            "model_rank_ratio": "none" if self.rank_ratio is None else str(self.rank_ratio),
            "model_params": str(self.num_parameters),
            "model_mflops": self._mflops(),
            "model_quantized": str(self.quantized).lower(),
            "model_flip": str(self.flip).lower(),
            "model_device": self.device,
            "model_precision": str(self.precision),
            "model_kernels": self.kernels,
            "model_batch_size": str(self.batch_size),
            "model_oom_halvings": str(self.oom_halvings),
            "model_weights": str(self.weights),
            **self.forward.describe(),
            "model_pin_memory": str(self.pin_memory).lower(),
        }

    def _mflops(self) -> str:
        if self.arch == UNKNOWN_ARCH:
            return "unknown"
        return f"{complexity(self.arch, self.rank_ratio).flops / 1e6:.2f}"

    def __repr__(self) -> str:
        return f"Embedder({', '.join(f'{k}={v}' for k, v in self.describe().items())})"


def _as_uint8_tensor(faces: np.ndarray | torch.Tensor, shape: tuple[int, int, int]) -> torch.Tensor:
    """Check shape and dtype; numpy input is shared, not copied."""
    if not isinstance(faces, torch.Tensor):
        faces = np.asarray(faces)
    if faces.ndim != 4 or tuple(faces.shape[1:]) != shape:
        raise ValueError(f"faces must be (N, {shape[0]}, {shape[1]}, 3) RGB, got shape {tuple(faces.shape)}")
    # Refused rather than guessed: a float image in [0, 1] would be silently mis-scaled.
    if isinstance(faces, torch.Tensor):
        if faces.dtype != torch.uint8:
            raise ValueError(f"faces must be uint8 (0..255), got {faces.dtype}")
        return faces
    if faces.dtype != np.uint8:
        raise ValueError(f"faces must be uint8 (0..255), got {faces.dtype}")
    return torch.from_numpy(np.ascontiguousarray(faces))


def create_edgeface_embedder(model: ModelConfig, runtime: Runtime, settings: EmbedSettings) -> Embedder:
    """EdgeFace's factory: an ``Embedder`` for a ``model`` config on ``runtime``.

    For a published variant (``VARIANTS``) the architecture keys default to its known layout;
    given keys win. Settings are checked before any weights load so a bad combination fails in
    milliseconds with a message that says what to change.

    ``settings.backend``: ``torch``, ``onnxruntime`` or ``auto``, which takes ONNX Runtime where
    it is faster and exact (float model, CPU, fp32, no torch-only option) and PyTorch otherwise.
    ONNX Runtime sessions get ``runtime.embed_threads``; PyTorch's global pool is the runtime's
    to size. ``channels_last`` (torch): model and input in channels_last memory format.
    ``pin_memory`` (torch on CUDA): host input is staged in pinned memory and copied asynchronously.
    """
    precision, batch_size, backend = settings.precision, settings.batch_size, settings.backend
    channels_last, pin_memory = settings.channels_last, settings.pin_memory
    if is_onnx_graph(model):
        if backend is EmbedBackend.torch or channels_last or pin_memory:
            raise ValueError(
                f"model.path {model.path} is an ONNX graph, which ONNX Runtime runs; backend=torch, "
                "channels_last and pin_memory are options of PyTorch models: use backend=auto or onnxruntime"
            )
        return graph_embedder(model, runtime, precision, batch_size, input_spec=InputSpec())
    name = model.name
    arch, rank_ratio, quantized = model_layout(model)
    kernels = choose_precision(precision, device=runtime.device, quantized=quantized, backend=backend)
    precision = kernels.precision

    if quantized and runtime.is_cuda:
        raise ValueError(
            f"{name} is a dynamic int8 model, and PyTorch's dynamic int8 kernels run on the CPU only; "
            "use hardware=cpu, or a float model such as model=edgeface_xs_gamma_06 on CUDA"
        )
    _check_precision(precision, runtime, quantized=quantized)
    resolved_backend = _resolve_backend(
        backend,
        name=name,
        runtime=runtime,
        precision=precision,
        quantized=quantized,
        channels_last=channels_last,
        pin_memory=pin_memory,
    )

    weights = weights_path(name, model.path)
    network = load_edgeface(arch, weights, rank_ratio=rank_ratio, quantized=quantized)
    forward: Forward
    if resolved_backend is EmbedBackend.onnxruntime:
        path = export_onnx(network, weights, arch, rank_ratio)
        forward = OnnxForward(path, runtime)
    else:
        forward = TorchForward(
            network,
            device=runtime.device_name,
            precision=precision,
            quantized=quantized,
            channels_last=channels_last,
        )
    return Embedder(
        forward,
        name=name,
        arch=arch,
        weights=weights,
        num_parameters=count_parameters(network),
        quantized=quantized,
        rank_ratio=rank_ratio,
        flip=model.flip,
        device=runtime.device_name,
        precision=precision,
        kernels=kernels.reason,
        batch_size=batch_size,
        pin_memory=pin_memory,
    )


def is_onnx_graph(model: ModelConfig) -> bool:
    """Whether ``model.path`` is an exported ONNX graph (``bench export``, or one made elsewhere
    with EdgeFace's input and output), told by its ``.onnx`` suffix."""
    return model.path is not None and Path(model.path).suffix.lower() == ".onnx"


def edgeface_precision(model: ModelConfig, settings: EmbedSettings, runtime: Runtime) -> str:
    """The precision ``create_edgeface_embedder`` will run ``model`` in with these settings, known
    without loading it (the feature cache keys embeddings by it)."""
    if is_onnx_graph(model):
        backend, quantized = EmbedBackend.onnxruntime, False
    else:
        backend, quantized = settings.backend, model_layout(model)[2]
    return choose_precision(
        settings.precision, device=runtime.device, quantized=quantized, backend=backend
    ).precision


def create_graph_embedder(model: ModelConfig, runtime: Runtime, settings: EmbedSettings) -> Embedder:
    """The ``onnx`` family's factory: any recognizer's graph on the input its config describes."""
    family = model_family(model)
    return graph_embedder(
        model,
        runtime,
        settings.precision,
        settings.batch_size,
        input_spec=family.input,
        embedding_dim=family.embedding_dim,
        unit_length=similarity_named(family.similarity).unit_length,
    )


def graph_embedder(
    model: ModelConfig,
    runtime: Runtime,
    precision: Precision,
    batch_size: int,
    *,
    input_spec: InputSpec,
    embedding_dim: int = EMBEDDING_DIM,
    unit_length: bool = True,
) -> Embedder:
    """An ``Embedder`` over an fp32 ONNX graph file. Its layout (arch, low-rank factor,
    parameters) is what ``bench export`` wrote into the graph's metadata; a graph made elsewhere
    reports ``model.arch`` and ``model.rank_ratio`` as configured, and counts its float
    initialisers. Its output width must be ``embedding_dim``."""
    kernels = choose_precision(
        precision, device=runtime.device, quantized=False, backend=EmbedBackend.onnxruntime
    )
    if kernels.precision is not Precision.fp32:
        raise ValueError(
            f"model.path {model.path} is an fp32 ONNX graph; precision={kernels.precision} is "
            "PyTorch autocast: use precision=fp32 (or auto) with it"
        )
    if model.quantized:
        raise ValueError("model.quantized describes a PyTorch int8 layout, not an ONNX graph: leave it false")
    path = weights_path(model.name, model.path)
    metadata = graph_metadata(path)
    arch = metadata.get(GRAPH_ARCH, model.arch)
    rank = metadata.get(GRAPH_RANK_RATIO)
    rank_ratio = model.rank_ratio if rank is None else (None if rank == "none" else float(rank))
    parameters = metadata.get(GRAPH_PARAMETERS)
    forward = OnnxForward(path, runtime)
    width = forward.session.output_width()
    if width is not None and width != embedding_dim:
        raise ValueError(
            f"{path} gives {width}-d embeddings but the config says {embedding_dim}: "
            f"set model.embedding_dim={width}"
        )
    return Embedder(
        forward,
        name=model.name,
        arch=arch or UNKNOWN_ARCH,
        weights=path,
        num_parameters=int(parameters) if parameters is not None else graph_parameters(path),
        rank_ratio=rank_ratio,
        flip=model.flip,
        device=runtime.device_name,
        precision=kernels.precision,
        kernels=kernels.reason,
        batch_size=batch_size,
        input_spec=input_spec,
        embedding_dim=embedding_dim,
        unit_length=unit_length,
    )


def model_layout(model: ModelConfig) -> tuple[str, float | None, bool]:
    """``arch``, ``rank_ratio`` and ``quantized``: the config's when it sets ``arch`` (weights of
    another layout), else the published variant's, all three together."""
    if model.arch is not None:
        return model.arch, model.rank_ratio, model.quantized
    variant = VARIANTS.get(model.name)
    if variant is None:
        raise ValueError(
            f"model {model.name!r} is not a published variant ({', '.join(sorted(VARIANTS))}); set `arch`"
        )
    if model.rank_ratio is not None or model.quantized:
        raise ValueError(
            f"model {model.name!r}: rank_ratio and quantized describe a layout; set `arch` with them"
        )
    return variant.arch, variant.rank_ratio, variant.quantized


def _check_precision(precision: Precision, runtime: Runtime, *, quantized: bool) -> None:
    if not runtime.is_cuda and precision is Precision.fp16:
        raise ValueError("precision=fp16 is not supported on the CPU; use fp32 or bf16 there, fp16 on CUDA")
    if quantized and precision is not Precision.fp32:
        raise ValueError(
            "dynamic int8 models already compute their linear layers in int8 and take fp32 input; "
            f"use precision=fp32 with them, not {precision}"
        )


def _resolve_backend(
    backend: EmbedBackend,
    *,
    name: str,
    runtime: Runtime,
    precision: Precision,
    quantized: bool,
    channels_last: bool,
    pin_memory: bool,
) -> EmbedBackend:
    """``torch`` or ``onnxruntime``; an explicit choice that cannot honour the other settings
    is refused, never quietly swapped."""
    if pin_memory and not runtime.is_cuda:
        raise ValueError(
            "pin_memory stages host-to-GPU copies and needs a CUDA device; set it false on the CPU"
        )
    if backend is EmbedBackend.auto:
        # ONNX Runtime wins on the CPU (~6.5 vs ~10 ms a face at batch 128); on CUDA PyTorch
        # does well and offers fp16/bf16; int8 and bf16 have no ORT graph here.
        float_cpu = not runtime.is_cuda and not quantized and precision is Precision.fp32
        return EmbedBackend.onnxruntime if float_cpu and not channels_last else EmbedBackend.torch
    if backend is EmbedBackend.onnxruntime:
        if quantized:
            raise ValueError(
                f"{name} is a PyTorch dynamic-int8 model, which is not exported to ONNX; use "
                "backend=torch (or auto) with it, or a float model such as edgeface_xs_gamma_06 "
                "on onnxruntime"
            )
        if precision is not Precision.fp32:
            raise ValueError(
                f"backend=onnxruntime runs the exported fp32 graph, and precision={precision} is "
                f"PyTorch autocast; use backend=torch (or auto) for {precision}, or precision=fp32"
            )
        if channels_last or pin_memory:
            raise ValueError(
                "channels_last and pin_memory are options of the torch backend; use backend=torch "
                "(or auto) with them, or turn them off for onnxruntime"
            )
    return backend
