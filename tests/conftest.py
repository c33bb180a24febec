"""Shared fixtures: the real configs, real LFW images, and an isolated MLflow store."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import cv2
import numpy as np
import pytest

from bench.assets import resolve
from bench.cli import compose_config, prepare
from bench.config import BenchConfig, to_bench_config
from bench.paths import project_root
from bench.pipeline import BenchmarkResult, BenchmarkRunner

CONF_DIR = project_root() / "conf"

#: LFW images with one clear frontal face each (deep-funneled, 250x250).
LFW_SAMPLES = (
    "Aaron_Peirsol/Aaron_Peirsol_0001.jpg",
    "Abel_Pacheco/Abel_Pacheco_0001.jpg",
    "Colin_Powell/Colin_Powell_0001.jpg",
    "George_W_Bush/George_W_Bush_0001.jpg",
    "Hal_Sutton/Hal_Sutton_0002.jpg",
    "Serena_Williams/Serena_Williams_0001.jpg",
)


def pytest_configure(config: pytest.Config) -> None:
    """Every component registered, with its config schema, before any test builds one."""
    prepare()


@pytest.fixture(autouse=True)
def _isolated_environment(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test downloads anything or writes to the project's own MLflow store or feature cache."""
    store = tmp_path_factory.mktemp("mlflow") / "mlruns.db"
    monkeypatch.setenv("BENCH_OFFLINE", "1")
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    # No calibration of this machine's CPU (bench tune) decides a test's worker counts.
    monkeypatch.setenv("BENCH_TUNING_DIR", str(tmp_path_factory.mktemp("tuning")))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{store}")


def bench_config(*overrides: str) -> BenchConfig:
    """The typed config a run gets from ``python -m bench progress=false OVERRIDES``."""
    return to_bench_config(compose_config(["progress=false", *overrides]))


def load_script(path: Path) -> ModuleType:
    """A script (a benchmark, ``hubconf.py``) loaded from its file as ``python PATH`` runs it,
    registered under its stem so that a process pool can pickle its functions by name."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def run_benchmark(*overrides: str) -> BenchmarkResult:
    """One run in this process, as ``python -m bench OVERRIDES`` runs it (without MLflow)."""
    with BenchmarkRunner(bench_config(*overrides)) as runner:
        return runner.run()


@pytest.fixture(scope="session")
def lfw_root() -> Path:
    return resolve("lfw_deepfunneled")


def read_rgb(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None, path
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="session")
def lfw_images(lfw_root: Path) -> list[np.ndarray]:
    return [read_rgb(lfw_root / name) for name in LFW_SAMPLES]


@pytest.fixture(scope="session")
def multi_face_image(lfw_images: list[np.ndarray]) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """Five real faces on one 500x500 canvas: one full-size LFW image in the middle and four
    at half size in the corners. Returns the image and the central image's extent
    ``(x1, y1, x2, y2)``, which holds the face the selection rule must pick."""
    canvas = np.full((500, 500, 3), 255, dtype=np.uint8)
    canvas[125:375, 125:375] = lfw_images[0]
    corners = ((0, 0), (0, 375), (375, 0), (375, 375))
    for image, (top, left) in zip(lfw_images[1:5], corners, strict=True):
        small = cv2.resize(image, (125, 125), interpolation=cv2.INTER_AREA)
        canvas[top : top + 125, left : left + 125] = small
    return canvas, (125.0, 125.0, 375.0, 375.0)


@pytest.fixture()
def tracking_uri(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    uri = f"sqlite:///{tmp_path / 'store' / 'mlruns.db'}"
    (tmp_path / "store").mkdir()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    yield uri
