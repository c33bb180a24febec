"""Recognition families by name: what a model needs fed, what it gives back, how it is built.

A family (EdgeFace, SFace, dlib's ResNet; a plugin's) registers one ``ModelFamily``: a factory
from the ``model`` config to an ``Embedder``, the model names it serves (the ``model`` group's
choices) with what each needs, its input spec, embedding size, similarity, its native alignment
template (the one it was trained on), and what its embeddings depend on (weights, precision) for
the feature cache. Every family is registered at start-up, so its callables import their backend
when called (a ``bench.registry.Lazy``, or a function with the import inside), not when
registered. A family whose input is the config's to say (``model=onnx``) gives ``configure``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from omegaconf import OmegaConf

from bench.alignment.template import Template, template_from_points, template_named
from bench.config import EmbedBackend, HardwareConfig, ModelConfig, Precision
from bench.models.similarity import SIMILARITIES
from bench.models.spec import InputSpec
from bench.registry import BUILTIN_SOURCE, Registry, Requirements

if TYPE_CHECKING:
    # Both import torch: a family is registered at start-up, built only when a run needs it.
    from bench.models.embedder import Embedder
    from bench.runtime import Runtime

#: ``model.template``'s value for the family's own template.
NATIVE = "native"


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
    def from_hardware(cls, hardware: HardwareConfig, batch_size: int) -> EmbedSettings:
        """``batch_size``: the run's, resolved from ``hardware.embed_batch_size`` (``Runtime``)."""
        return cls(
            hardware.precision,
            batch_size,
            hardware.embed_backend,
            hardware.channels_last,
            hardware.pin_memory,
        )


@dataclass(frozen=True)
class Capabilities:
    """What of the ``hardware`` settings and EdgeFace's layout keys a family can honour; the rest
    is refused before anything loads, with what to change (``ModelFamily.check``)."""

    cuda: bool = True
    backends: tuple[EmbedBackend, ...] = tuple(EmbedBackend)
    precisions: tuple[Precision, ...] = tuple(Precision)
    #: ``channels_last`` and ``pin_memory``: PyTorch's.
    torch_options: bool = True
    #: ``arch``, ``rank_ratio``, ``quantized``: EdgeFace's layouts.
    layouts: bool = True


#: A network run as it was shipped, in fp32, on the CPU or CUDA by ONNX Runtime.
FIXED_ONNX_GRAPH = Capabilities(
    backends=(EmbedBackend.auto, EmbedBackend.onnxruntime),
    precisions=(Precision.auto, Precision.fp32),
    torch_options=False,
    layouts=False,
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
    #: How embeddings are compared (``bench.metrics.similarity.SIMILARITIES``).
    similarity: str = "cosine"
    #: The native alignment template's name (``bench.alignment.template.TEMPLATES``).
    template: str = "arcface_112"
    #: What runs the network, shown by ``bench list`` (``torch``, ``litert``...).
    backend: str = "torch"
    #: For a family whose input, embedding size or similarity the config gives: this family as
    #: one ``model`` config describes it.
    configure: Callable[[ModelFamily, ModelConfig], ModelFamily] | None = None
    #: Whether ``bench export`` can write the model as an ONNX graph (PyTorch families).
    exportable: bool = False
    #: The schema of its ``model`` configs (a family with keys of its own subclasses it).
    config_type: type[ModelConfig] = ModelConfig
    #: The model that stands for the family where families are compared (``make matrix``);
    #: ``None``: none runs by name alone (``model=onnx`` needs a file).
    reference_model: str | None = None
    capabilities: Capabilities = field(default_factory=Capabilities)

    def __post_init__(self) -> None:
        if self.reference_model is not None and self.reference_model not in self.models:
            raise ValueError(
                f"model family {self.name!r}: reference model {self.reference_model!r} not among its models"
            )
        if self.similarity not in SIMILARITIES:
            raise ValueError(
                f"model family {self.name!r}: unknown similarity {self.similarity!r}; "
                f"known: {sorted(SIMILARITIES)}"
            )

    def for_model(self, model: ModelConfig) -> ModelFamily:
        return self if self.configure is None else self.configure(self, model)

    def check(self, model: ModelConfig, settings: EmbedSettings, runtime: Runtime) -> None:
        """Refuse what this family cannot honour, saying what to change."""
        can, name, runner = self.capabilities, model.name, f"the {self.name} family's {self.backend}"
        if runtime.is_cuda and not can.cuda:
            raise ValueError(
                f"model={name} runs on the CPU ({runner} has no CUDA build), but the run is on "
                f"{runtime.device_name}: use hardware=cpu"
            )
        if settings.backend not in can.backends:
            allowed = " or ".join(str(backend) for backend in can.backends)
            raise ValueError(
                f"model={name} is run by {runner}, not by {settings.backend}: "
                f"use hardware.embed_backend={allowed}"
            )
        if settings.precision not in can.precisions:
            allowed = " or ".join(str(precision) for precision in can.precisions)
            raise ValueError(
                f"model={name} computes as shipped; precision={settings.precision} is PyTorch autocast: "
                f"use hardware.precision={allowed}"
            )
        if (settings.channels_last or settings.pin_memory) and not can.torch_options:
            raise ValueError(
                f"model={name} is run by {runner}; channels_last and pin_memory are options of PyTorch "
                "models: set hardware.channels_last=false and hardware.pin_memory=false"
            )
        if (model.arch is not None or model.rank_ratio is not None or model.quantized) and not can.layouts:
            raise ValueError(
                f"model={name}: arch, rank_ratio and quantized describe EdgeFace layouts; this network "
                "is fixed: leave them unset"
            )

    def build(self, model: ModelConfig, runtime: Runtime, settings: EmbedSettings) -> Embedder:
        """The family's ``Embedder`` for ``model``, after ``check``."""
        self.check(model, settings, runtime)
        return self.create(model, runtime, settings)


FAMILIES: Registry[ModelFamily] = Registry("model family")


def register_family(family: ModelFamily, origin: str = BUILTIN_SOURCE) -> None:
    FAMILIES.add(family.name, family, origin)


def model_family(model: ModelConfig) -> ModelFamily:
    """The family of a ``model`` config, as that config describes it."""
    return FAMILIES.get(model.family).for_model(model)


def alignment_template(model: ModelConfig) -> Template:
    """The template a ``model`` config's faces are aligned to: its family's own for ``native``, a
    registered one by name, or points and size given in the config."""
    value = model.template
    if isinstance(value, str):
        return template_named(model_family(model).template if value == NATIVE else value)
    # Any other form was refused when the config was made (``ModelConfig.__post_init__``).
    return template_from_points(value["points"], value["size"])


def list_models() -> list[str]:
    """Every model name a registered family serves."""
    return sorted(name for family in FAMILIES for name in family.models)


def family_serving(name: str) -> str | None:
    """The family whose models include ``name`` (``None``: none does)."""
    return next((family.name for family in FAMILIES if name in family.models), None)


def model_config(cfg: ModelConfig | Mapping[str, Any]) -> ModelConfig:
    """A ``model`` config as the typed object of its family's schema, checked as Hydra would
    (unknown keys, types). Without a ``family``, the one that serves ``name`` (``sface_int8`` ->
    ``sface``)."""
    if isinstance(cfg, ModelConfig):
        return cfg
    given = dict(cfg)
    if "family" not in given and (serving := family_serving(str(given.get("name")))) is not None:
        given["family"] = serving
    schema = FAMILIES.get(given["family"]).config_type if "family" in given else ModelConfig
    allowed = [item.name for item in dataclasses.fields(schema)]
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise ValueError(f"unknown model config keys {unknown}; allowed: {allowed}")
    merged = OmegaConf.merge(OmegaConf.structured(schema), given)
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
    return model_family(model).build(model, runtime, settings)
