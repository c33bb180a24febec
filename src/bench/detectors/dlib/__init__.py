"""dlib's face detectors, each followed by dlib's 5-point shape predictor (registered as
``"dlib_hog"`` and ``"dlib_mmod"``); what the points are is described in ``detector``.

* ``dlib_hog``: ``dlib.get_frontal_face_detector()``, HOG features and a linear SVM (its model
  is compiled into dlib).
* ``dlib_mmod``: ``dlib.cnn_face_detection_model_v1``, the CNN trained with max-margin object
  detection (MMOD), ``mmod_human_face_detector.dat``.

The two weight files ship in the pip package ``face-recognition-models``: each is an asset of
that package (``Asset.package``), so the resolver finds it there, checks its sha256, ``bench
list`` says when it is missing and the result cache hashes what is loaded.

Licences: dlib, Boost Software License 1.0; ``face-recognition-models`` (Adam Geitgey), MIT.
Both models were trained by Davis King on data sets he annotated, and released by him into the
public domain (davisking/dlib-models, CC0 1.0): the 5-point predictor on dlib's 5-point face
landmark data set (7198 faces), the MMOD detector on dlib's face detection data set (faces
from ImageNet, AFLW, Pascal VOC, VGG, WIDER and FaceScrub images, relabelled by him).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench.assets import Asset
from bench.detectors.dlib.options import DlibHogOptions, DlibMmodOptions
from bench.detectors.registry import Requirements
from bench.registry import Lazy

if TYPE_CHECKING:
    from bench.plugins import PluginRegistry

#: The import name of the package shipping the weights; pip calls it ``face-recognition-models``.
PACKAGE = "face_recognition_models"
INSTALL = "pip install face-recognition-models (a source archive that builds offline)"
PREDICTOR_FILE = "shape_predictor_5_face_landmarks.dat"
MMOD_FILE = "mmod_human_face_detector.dat"
PREDICTOR = Asset(
    "dlib_shape_predictor_5",
    f"models/{PREDICTOR_FILE}",
    sha256="c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
    note=INSTALL,
    package=PACKAGE,
)
MMOD = Asset(
    "dlib_mmod_human_face",
    f"models/{MMOD_FILE}",
    sha256="4cb19393e2fbaf2b1609a9319ad5386618c886a6234ec1b971f3e87c85d87fe6",
    note=INSTALL,
    package=PACKAGE,
)


def register(registry: PluginRegistry) -> None:
    registry.asset(PREDICTOR)
    registry.asset(MMOD)
    registry.detector(
        "dlib_hog",
        Lazy("bench.detectors.dlib.detector:DlibHogDetector"),
        DlibHogOptions,
        Requirements((PREDICTOR.name,), ("dlib",)),
    )
    # Two files: ``path`` is the folder holding both (``DetectorEntry.weights``, as for MTCNN).
    registry.detector(
        "dlib_mmod",
        Lazy("bench.detectors.dlib.detector:DlibMmodDetector"),
        DlibMmodOptions,
        Requirements((MMOD.name, PREDICTOR.name), ("dlib",)),
    )


__all__ = ["INSTALL", "MMOD", "PACKAGE", "PREDICTOR", "DlibHogOptions", "DlibMmodOptions", "register"]
