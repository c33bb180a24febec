"""Recognition families by name: what a model needs fed, what it gives back, how it is built.

A family (EdgeFace; a plugin's) registers one ``ModelFamily``: a factory from the ``model``
config to an ``Embedder``, the model names it serves (the ``model`` group's choices) with what
each needs, its input spec, embedding size, similarity, the alignment template it was trained
on, and what its embeddings depend on (weights, precision) for the feature cache. Every family
is registered at start-up, so its callables import their backend when called (a
``bench.registry.Lazy``, or a function with the import inside), not when registered.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from omegaconf import OmegaConf

from bench.config import EmbedBackend, HardwareConfig, ModelConfig, Precision
from bench.models.spec import InputSpec
from bench.registry import BUILTIN_SOURCE, Registry, Requirements

if TYPE_CHECKING:
    # Both import torch: a family is registered at start-up, built only when a run needs it.
    from bench.models.embedder import Embedder
    from bench.runtime import Runtime

#: The templates the aligner warps to (``bench.alignment``).
TEMPLATES = ("arcface_112",)


@dataclass(frozen=True)
class EmbedSettings:
    """How to run a model, from the ``hardware`` group: a family honours what it can and refuses
    the rest with a message that says what to change."""

    precision: Precision = Precision.fp32
    batch_size: int = 128
    backend: EmbedBackend = EmbedBackend.auto
    channels_last: bool = False
    pin_memory: bool = False

    @classmethod
    def from_hardware(cls, hardware: HardwareConfig) -> EmbedSettings:
        return cls(
            hardware.precision,
            hardware.embed_batch_size,
            hardware.embed_backend,
            hardware.channels_last,
            hardware.pin_memory,
        )


@dataclass(frozen=True)
class ModelFamily:
    name: str
    create: Callable[[ModelConfig, Runtime, EmbedSettings], Embedder]
    #: Model name (a ``model`` config's ``name``) -> what it needs to run here.
    models: Mapping[str, Requirements]
    #: The file whose content an embedding depends on (the cache hashes it).
    weights: Callable[[ModelConfig], Path]
    #: The precision the model will run in, known without loading it (the cache keys on it).
    precision: Callable[[ModelConfig, EmbedSettings, Runtime], str]
    input: InputSpec = field(default_factory=InputSpec)
    embedding_dim: int = 512
    similarity: str = "cosine"
    template: str = "arcface_112"
    #: What runs the network, shown by ``bench list`` (``torch``, ``litert``...).
    backend: str = "torch"

    def __post_init__(self) -> None:
        if self.template not in TEMPLATES:
            raise ValueError(
                f"model family {self.name!r}: unknown template {self.template!r}; known: {TEMPLATES}"
            )
        if self.similarity != "cosine":
            raise ValueError(
                f"model family {self.name!r}: only cosine similarity is scored, not {self.similarity!r}"
            )


FAMILIES: Registry[ModelFamily] = Registry("model family")


def register_family(family: ModelFamily, origin: str = BUILTIN_SOURCE) -> None:
    FAMILIES.add(family.name, family, origin)


def model_family(model: ModelConfig) -> ModelFamily:
    return FAMILIES.get(model.family)


def list_models() -> list[str]:
    """Every model name a registered family serves."""
    return sorted(name for family in FAMILIES for name in family.models)


def model_config(cfg: ModelConfig | Mapping[str, Any]) -> ModelConfig:
    """A ``model`` config as the typed object, checked as Hydra would (unknown keys, types)."""
    if isinstance(cfg, ModelConfig):
        return cfg
    allowed = [item.name for item in dataclasses.fields(ModelConfig)]
    unknown = sorted(set(cfg) - set(allowed))
    if unknown:
        raise ValueError(f"unknown model config keys {unknown}; allowed: {allowed}")
    merged = OmegaConf.merge(OmegaConf.structured(ModelConfig), dict(cfg))
    return cast(ModelConfig, OmegaConf.to_object(merged))


def create_embedder(
    cfg: ModelConfig | Mapping[str, Any],
    runtime: Runtime | None = None,
    *,
    precision: Precision | str = Precision.fp32,
    batch_size: int = 128,
    backend: EmbedBackend | str = EmbedBackend.auto,
    channels_last: bool = False,
    pin_memory: bool = False,
) -> Embedder:
    """The ``Embedder`` of a ``model`` config (its ``family``'s factory) on ``runtime`` (the CPU
    when ``None``); the settings are the ``hardware`` group's (``EmbedSettings``)."""
    model = model_config(cfg)
    settings = EmbedSettings(
        Precision(precision), batch_size, EmbedBackend(backend), channels_last, pin_memory
    )
    if runtime is None:
        from bench.runtime import Runtime

        runtime = Runtime.local()
    return model_family(model).create(model, runtime, settings)
