"""dlib's face detectors, each followed by dlib's 5-point shape predictor (registered as
``"dlib_hog"`` and ``"dlib_mmod"``); what the points are is described in ``detector``.

* ``dlib_hog``: ``dlib.get_frontal_face_detector()``, HOG features and a linear SVM (its model
  is compiled into dlib).
* ``dlib_mmod``: ``dlib.cnn_face_detection_model_v1``, the CNN trained with max-margin object
  detection (MMOD), ``mmod_human_face_detector.dat``.

The two weight files come from the pip package ``face-recognition-models``, not from an assets
root: each is registered as an asset whose location is the package's copy (found with
``importlib.util.find_spec``, without importing it: its ``__init__`` needs ``pkg_resources``,
gone from current setuptools), so the asset resolver checks its sha256, ``bench list`` says
when it is missing and the result cache hashes what is loaded (``DetectorEntry.weights``).

Licences: dlib, Boost Software License 1.0; ``face-recognition-models`` (Adam Geitgey), MIT.
Both models were trained by Davis King on data sets he annotated, and released by him into the
public domain (davisking/dlib-models, CC0 1.0): the 5-point predictor on dlib's 5-point face
landmark data set (7198 faces), the MMOD detector on dlib's face detection data set (faces
from ImageNet, AFLW, Pascal VOC, VGG, WIDER and FaceScrub images, relabelled by him).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

from bench.assets import Asset
from bench.detectors.dlib.options import DlibHogOptions, DlibMmodOptions
from bench.detectors.registry import Requirements
from bench.registry import Lazy

if TYPE_CHECKING:
    from bench.plugins import PluginRegistry

#: The import name of the package shipping the weights; pip calls it ``face-recognition-models``.
PACKAGE = "face_recognition_models"
PACKAGES = ("dlib", PACKAGE)
PREDICTOR_FILE = "shape_predictor_5_face_landmarks.dat"
MMOD_FILE = "mmod_human_face_detector.dat"


def packaged_file(filename: str) -> Path:
    """``filename`` in ``face_recognition_models/models/``, found without importing the package.

    Raises ``FileNotFoundError`` naming the file, where it was looked for and what to install.
    """
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"{filename}: the package {PACKAGE} is not on sys.path, which ships it in {PACKAGE}/models/; "
            "pip install face-recognition-models, or give the file in detector.options.path"
        )
    searched = [Path(folder) / "models" / filename for folder in spec.submodule_search_locations]
    for candidate in searched:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"{filename} is not in the installed {PACKAGE} (looked at {', '.join(map(str, searched))}); "
        "reinstall it (pip install --force-reinstall face-recognition-models), "
        "or give the file in detector.options.path"
    )


def packaged_asset(name: str, filename: str, sha256: str) -> Asset:
    """``filename`` of ``face-recognition-models`` as asset ``name``. Its ``relpath`` is the
    package's absolute file (an absolute ``relpath`` is the same below every root); without the
    package, ``face_recognition_models/models/<file>`` below an assets root, and the error says
    what to install."""
    try:
        return Asset(name, str(packaged_file(filename)), sha256=sha256)
    except FileNotFoundError as missing:
        return Asset(name, f"{PACKAGE}/models/{filename}", sha256=sha256, note=str(missing))


#: Asset names: the ones ``Requirements`` and ``resolve`` take.
PREDICTOR = "dlib_shape_predictor_5"
MMOD = "dlib_mmod_human_face"
_FILES = {
    PREDICTOR: (PREDICTOR_FILE, "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888"),
    MMOD: (MMOD_FILE, "4cb19393e2fbaf2b1609a9319ad5386618c886a6234ec1b971f3e87c85d87fe6"),
}


def register(registry: PluginRegistry) -> None:
    """The assets are made here, not at import: importing a method registers nothing and looks
    for nothing."""
    for name, (filename, sha256) in _FILES.items():
        registry.asset(packaged_asset(name, filename, sha256))
    registry.detector(
        "dlib_hog",
        Lazy("bench.detectors.dlib.detector:DlibHogDetector"),
        DlibHogOptions,
        Requirements((PREDICTOR,), PACKAGES),
    )
    # Two files: ``path`` is the folder holding both (``DetectorEntry.weights``, as for MTCNN).
    registry.detector(
        "dlib_mmod",
        Lazy("bench.detectors.dlib.detector:DlibMmodDetector"),
        DlibMmodOptions,
        Requirements((MMOD, PREDICTOR), PACKAGES),
    )


__all__ = [
    "MMOD",
    "PREDICTOR",
    "DlibHogOptions",
    "DlibMmodOptions",
    "packaged_asset",
    "packaged_file",
    "register",
]
