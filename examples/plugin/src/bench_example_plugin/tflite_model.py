"""EdgeFace-XS (gamma=0.6) as an fp16 TFLite file on LiteRT: the family's factory, imported only
when a run builds the model (``Lazy`` in ``register``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from bench.config import ModelConfig
from bench.models import Embedder, EmbedSettings
from bench.models.complexity import complexity
from bench.runtime import Runtime
from bench_example_plugin import INPUT, weights

ARCH, RANK_RATIO = "edgenext_x_small", 0.6


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


def create(model: ModelConfig, runtime: Runtime, settings: EmbedSettings) -> Embedder:
    """What LiteRT cannot honour (CUDA, a precision but fp32) is refused before, by bench
    (``ModelFamily.check``, from the family's ``capabilities``)."""
    path = weights(model)
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
