"""A small library API over the registry, matching the original system's interface:

    from bench.api import UnifiedFaceDetector, list_available, matrix_models, sweep_methods
    detector = UnifiedFaceDetector("yunet", device="cpu")
    boxes, landmarks = detector.detect_faces(rgb_image)
    face_112 = detector.align(rgb_image)

Images are ``HxWx3`` ``uint8`` RGB (convert ``cv2.imread``'s BGR with ``cv2.cvtColor``).

``list_available`` (``bench list``) reads only what the components registered: importing this
module imports no backend, nor torch (the runtime and the aligner are imported by
``UnifiedFaceDetector``).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.assets import ASSETS, AssetError, AssetNotFoundError, resolve
from bench.config import Selection
from bench.detectors import FIVE_POINTS, Detector, create_detector, select_face
from bench.detectors.registry import DETECTORS
from bench.models.registry import FAMILIES
from bench.plugins import load_plugins
from bench.registry import Requirements


@dataclass(frozen=True)
class Availability:
    """Whether a method (with one of its backends) or a recognition model can run here;
    ``reason`` says what is missing when it cannot. ``default`` marks the backend the method's
    default options pick; ``source`` is the distribution that registered it (``bench``)."""

    name: str
    backend: str
    available: bool
    reason: str = ""
    default: bool = True
    kind: str = "detector"
    source: str = "bench"


def _missing(requirements: Requirements) -> list[str]:
    problems = [
        f"Python package {package!r} is not installed"
        for package in requirements.packages
        if importlib.util.find_spec(package) is None
    ]
    for asset in requirements.assets:
        try:
            resolve(asset, download=False)
        except AssetNotFoundError:
            known = ASSETS[asset]
            if known.package:
                problems.append(
                    f"weights {known.relpath} ship in the package {known.package!r}: {known.note}"
                )
            else:
                upstream = known.url or "no public URL"
                problems.append(f"weights {known.relpath} are not on this machine (upstream: {upstream})")
        except AssetError as error:
            problems.append(str(error))
    return problems


def list_available() -> list[Availability]:
    """Every registered method and each of its backends, then every recognition model, built-in
    or from a plugin, with whether its packages and weights are present here (local files only:
    nothing is downloaded to find out)."""
    load_plugins()
    report = []
    for entry in sorted(DETECTORS, key=lambda entry: entry.name):
        source = DETECTORS.source(entry.name)
        for backend, requirements in entry.backend_requirements().items():
            problems = "; ".join(_missing(requirements))
            default = backend == entry.default_backend
            report.append(
                Availability(entry.name, str(backend), not problems, problems, default, source=source)
            )
    for family in FAMILIES:
        source = FAMILIES.source(family.name)
        for name, requirements in family.models.items():
            problems = "; ".join(_missing(requirements))
            report.append(
                Availability(name, family.backend, not problems, problems, kind="model", source=source)
            )
    return sorted(report, key=lambda row: (row.kind, row.name))


def matrix_models() -> list[str]:
    """The models a detector x model matrix compares: each family's reference model
    (``ModelFamily.reference_model``) that runs here."""
    runnable = {row.name for row in list_available() if row.kind == "model" and row.available}
    return sorted(
        family.reference_model
        for family in FAMILIES
        if family.reference_model is not None and family.reference_model in runnable
    )


def sweep_methods() -> list[str]:
    """The methods a sweep compares: every detector that runs here with its default options and
    is a method to rank (``DetectorEntry.compared``: not ``none``, ``given`` or ``reference``)."""
    runnable = {
        row.name for row in list_available() if row.kind == "detector" and row.available and row.default
    }
    return sorted(name for name in runnable if DETECTORS.get(name).compared)


class UnifiedFaceDetector:
    """One detection/alignment method by name, with the benchmark's selection rule and aligner."""

    def __init__(
        self,
        name: str,
        device: str = "cpu",
        selection: Selection | str = Selection.center_weighted,
        **options: Any,
    ) -> None:
        from bench.runtime import Runtime

        load_plugins()
        self.detector: Detector = create_detector(name, Runtime.local(device), **options)
        self.selection = Selection(selection)

    def detect_faces(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every face: boxes ``(N, 4)`` as ``x1, y1, x2, y2`` and landmarks ``(N, K, 2)`` (K = 5
        in the documented order; fewer, named by each ``Face``, for methods without mouth
        corners). Methods without landmarks (``center_crop``) give none."""
        faces = self.detector.detect([image])[0]
        boxes = np.array([face.box for face in faces], dtype=np.float32).reshape(-1, 4)
        with_points = [face.landmarks for face in faces if face.landmarks is not None]
        landmarks = np.stack(with_points) if with_points else np.empty((0, len(FIVE_POINTS), 2), np.float32)
        return boxes, landmarks

    def close(self) -> None:
        """Release the method's native resources (MediaPipe's tasks); see ``Detector.close``."""
        self.detector.close()

    def align(
        self, image: np.ndarray, template: str = "arcface_112", size: int | None = None
    ) -> np.ndarray | None:
        """The selected face warped to ``template`` (a registered one's name: ``arcface_112``,
        ``dlib_chip_150``...) in a ``size`` x ``size`` crop (the template's own size by
        default); ``None`` when no face."""
        from bench.alignment import align_face, template_named

        chosen = template_named(template)
        face = select_face(self.detector.detect([image])[0], image.shape, self.selection)
        return None if face is None else align_face(image, face, size or chosen.size, chosen)
