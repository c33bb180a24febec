"""Start-up stays light: registering every component (``bench.cli.prepare``, before Hydra composes
a config, on every ``bench`` command, ``--help`` included) imports no backend; each factory
imports its own when a run builds it."""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys

import pytest

from bench.paths import project_root
from bench.plugins.loader import BUILTIN_PACKAGES, builtin_modules

#: What a detector or recognition backend imports; none of it is needed to compose a config.
HEAVY = ("torch", "timm", "onnxruntime", "mediapipe", "ultralytics", "ai_edge_litert", "torchvision")


def run_python(script: str) -> str:
    """``script`` in a fresh interpreter (this one has imported everything already)."""
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        cwd=project_root(),
        timeout=120,
    )
    return done.stdout


def test_prepare_imports_no_backend() -> None:
    script = (
        "from bench.cli import prepare; prepare(); import sys; "
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    assert run_python(script).strip() == "[]"


def test_prepare_registers_every_builtin() -> None:
    script = (
        "import json\n"
        "from bench.cli import prepare\n"
        "prepare()\n"
        "from bench.detectors import list_detectors\n"
        "from bench.models.registry import FAMILIES, list_models\n"
        "names = [family.name for family in FAMILIES]\n"
        "print(json.dumps({'detectors': list_detectors(), 'families': names, 'models': list_models()}))\n"
    )
    registered = json.loads(run_python(script))
    detector_yaml = {path.stem for path in (project_root() / "conf" / "detector").glob("*.yaml")}
    assert set(registered["detectors"]) == detector_yaml
    assert {"yunet", "retinaface", "mtcnn", "mediapipe_mesh", "none", "given"} <= detector_yaml
    assert "edgeface" in registered["families"]
    assert set(registered["models"]) >= {"edgeface_xs_gamma_06", "edgeface_xxs_q"}


def test_the_loader_finds_every_module_that_registers() -> None:
    """It reads the sources instead of importing them: it must find what an import would."""
    registering = set()
    for package_name in BUILTIN_PACKAGES:
        package = importlib.import_module(package_name)
        for info in pkgutil.iter_modules(package.__path__, f"{package_name}."):
            if callable(getattr(importlib.import_module(info.name), "register", None)):
                registering.add(info.name)
    assert sorted(builtin_modules()) == sorted(registering)


def test_a_factory_imports_its_backend_when_called() -> None:
    """The registered factory (a ``Lazy``) builds the backend's own class."""
    script = (
        "import sys\n"
        "from bench.cli import prepare\n"
        "prepare()\n"
        "assert 'bench.detectors.yunet.opencv_backend' not in sys.modules\n"
        "from bench.detectors import create_detector\n"
        "detector = create_detector('yunet', backend='opencv')\n"
        "from bench.detectors.yunet.opencv_backend import OpenCVYuNet\n"
        "print(type(detector) is OpenCVYuNet)\n"
    )
    assert run_python(script).strip() == "True"


@pytest.mark.parametrize(
    ("package", "name", "module"),
    [
        ("bench.models", "Embedder", "bench.models.embedder"),
        ("bench.models", "TorchForward", "bench.models.embedder"),
        ("bench.models", "model_layout", "bench.models.embedder"),
        ("bench.models", "create_model", "bench.models.edgeface"),
        ("bench.models", "InputSpec", "bench.models.spec"),
        ("bench.models.embedder", "InputSpec", "bench.models.spec"),
        ("bench.models.edgeface", "VARIANTS", "bench.models.edgeface_variants"),
    ],
)
def test_public_names_stay_importable(package: str, name: str, module: str) -> None:
    """The library names ``bench.models`` re-exports lazily are the objects of the module
    defining them."""
    assert getattr(importlib.import_module(package), name) is getattr(importlib.import_module(module), name)


def test_an_unknown_name_is_an_attribute_error() -> None:
    import bench.models

    with pytest.raises(AttributeError, match="has no attribute 'Embeder'"):
        bench.models.Embeder  # noqa: B018
