"""dlib's face recognition ResNet as a recognition family (``model=dlib_resnet34``).

The network is ``dlib_face_recognition_resnet_model_v1.dat``: a ResNet-34 with some layers
removed and half the filters (29 convolutions, 5.6M parameters), 150x150 RGB chips in, 128-d
descriptors out, trained with a metric loss that puts each identity in a ball of radius 0.6, so
descriptors are compared raw by Euclidean distance (dlib's documented threshold: 0.6; the score
is minus the distance, ``bench.models.similarity``). dlib (the ``dlib-bin`` wheel) runs it on
the CPU; the factory and its forward are in ``bench.models.dlib_resnet``.

Its native crop is dlib's face chip, ``get_face_chip(image, shape, 150, 0.25)``, the
``dlib_chip_150`` template (``bench.alignment.template``).

The file comes from the PyPI package ``face-recognition-models`` (0.3.0), an asset of that
package (``Asset.package``); ``model.path`` names another copy.

Licences: dlib, Boost Software License 1.0; ``face-recognition-models`` (Adam Geitgey), MIT. The
model was trained and released by dlib's author, Davis King, who placed his dlib-models files in
the public domain (github.com/davisking/dlib-models, CC0 1.0): trained from scratch on about 3
million faces of 7485 identities, about half from the VGG Face data set and FaceScrub, the rest
scraped from the web and cleaned by hand; LFW's identities were kept out. He reports a mean LFW
accuracy of 99.38% (standard deviation 0.27%).

Registered at start-up, so this module imports no dlib, OpenCV or torch: the factory is a
``Lazy``, and the asset resolver finds the file in the package without importing it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from bench.assets import Asset, resolve
from bench.config import EmbedBackend, ModelConfig, Precision
from bench.detectors.dlib import INSTALL, PACKAGE
from bench.models.registry import Capabilities, EmbedSettings, ModelFamily
from bench.models.spec import InputSpec
from bench.registry import Lazy, Requirements

if TYPE_CHECKING:
    from bench.plugins import PluginRegistry
    from bench.runtime import Runtime

MODEL_NAME = "dlib_resnet34"
#: The recognition network, shipped in ``face-recognition-models`` beside dlib's detectors.
WEIGHTS = Asset(
    "dlib_face_recognition_resnet_v1",
    "models/dlib_face_recognition_resnet_model_v1.dat",
    sha256="55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
    note=INSTALL,
    package=PACKAGE,
)


def dlib_weights(model: ModelConfig) -> Path:
    """The network's file: ``model.path`` when given, else the installed package's copy. The
    feature cache hashes this file."""
    return resolve(WEIGHTS, model.path)


def dlib_precision(model: ModelConfig, settings: EmbedSettings, runtime: Runtime) -> str:
    """Always fp32 (another request is refused by ``ModelFamily.check``)."""
    return str(Precision.fp32)


DLIB = ModelFamily(
    name="dlib",
    create=Lazy("bench.models.dlib_resnet:create_dlib_embedder"),
    models={MODEL_NAME: Requirements((WEIGHTS.name,), ("dlib",))},
    weights=dlib_weights,
    precision=dlib_precision,
    # dlib's input layer subtracts its own mean and scales by 1/256: it takes RGB 0..255.
    input=InputSpec(size=150, channels="RGB", mean=0.0, std=1.0),
    embedding_dim=128,
    similarity="euclidean",
    template="dlib_chip_150",
    backend="dlib",
    reference_model=MODEL_NAME,
    # dlib-bin is a CPU build without BLAS: one thread, fp32, the network as shipped.
    capabilities=Capabilities(
        cuda=False,
        backends=(EmbedBackend.auto,),
        precisions=(Precision.auto, Precision.fp32),
        torch_options=False,
        layouts=False,
    ),
)


def register(registry: PluginRegistry) -> None:
    registry.asset(WEIGHTS)
    registry.model_family(DLIB)
