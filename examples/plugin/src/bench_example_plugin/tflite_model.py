"""EdgeFace-XS (gamma=0.6) as an fp16 TFLite file on LiteRT: a recognition family of its own."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from bench.assets import Asset, resolve
from bench.config import ModelConfig, Precision
from bench.models import Embedder, EmbedSettings, InputSpec, ModelFamily
from bench.models.complexity import complexity
from bench.registry import Requirements
from bench.runtime import Runtime

#: BSD-3-Clause (EdgeFace, Idiap); the fp16 export EdgeFace's authors published.
WEIGHTS = Asset(
    "edgeface_xs_gamma_06_fp16_tflite",
    "weights/edgeface/edgeface_xs_gamma_06_fp16.tflite",
    sha256="2a292d65f1fd7f7b8f8bd73c979464aa74677fd7e85b371c101f390502b9d745",
)
MODEL_NAME = "edgeface_xs_tflite"
ARCH, RANK_RATIO = "edgenext_x_small", 0.6
INPUT = InputSpec(size=112, channels="RGB", mean=127.5, std=127.5)


class LiteRTForward:
    """The interpreter takes one NHWC face per call (its input is fixed at batch 1)."""

    backend = "litert"
    input_device = torch.device("cpu")

    def __init__(self, path: Path, threads: int) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.path = path
        self.interpreter = Interpreter(model_path=str(path), num_threads=threads)
        self.interpreter.allocate_tensors()
        (self.input,) = self.interpreter.get_input_details()
        (self.output,) = self.interpreter.get_output_details()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        faces = x.permute(0, 2, 3, 1).contiguous().numpy()
        out = []
        for face in faces:
            self.interpreter.set_tensor(self.input["index"], face[None])
            self.interpreter.invoke()
            out.append(self.interpreter.get_tensor(self.output["index"])[0].copy())
        return torch.from_numpy(np.stack(out))

    def describe(self) -> dict[str, str]:
        return {"model_backend": self.backend, "model_litert": str(self.path)}


def _weights(model: ModelConfig) -> Path:
    return resolve(WEIGHTS.name, model.path)


def _precision(model: ModelConfig, settings: EmbedSettings, runtime: Runtime) -> str:
    return "fp16 weights, fp32 activations (LiteRT)"


def create(model: ModelConfig, runtime: Runtime, settings: EmbedSettings) -> Embedder:
    if runtime.is_cuda or settings.precision not in (Precision.auto, Precision.fp32):
        raise ValueError(
            f"model={model.name} runs on LiteRT on the CPU in fp32: use hardware=cpu precision=fp32"
        )
    path = _weights(model)
    return Embedder(
        LiteRTForward(path, runtime.embed_threads),
        name=model.name,
        arch=ARCH,
        rank_ratio=RANK_RATIO,
        weights=path,
        # The exported network's: the same layout as bench's edgeface_xs_gamma_06.
        num_parameters=complexity(ARCH, RANK_RATIO).parameters,
        flip=model.flip,
        device=runtime.device_name,
        kernels="LiteRT XNNPACK",
        batch_size=settings.batch_size,
        input_spec=INPUT,
    )


EDGEFACE_TFLITE = ModelFamily(
    name="edgeface_tflite",
    create=create,
    models={MODEL_NAME: Requirements((WEIGHTS.name,), ("ai_edge_litert",))},
    weights=_weights,
    precision=_precision,
    input=INPUT,
    embedding_dim=512,
    template="arcface_112",
    backend="litert",
)
