"""Plugins as a user installs them: ``examples/plugin`` pip-installed into a fresh folder put on
``PYTHONPATH``, found through its ``bench.plugins`` entry point with no flag and no file of the
package changed; a broken plugin is named and the rest still load."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from bench.detectors.registry import DETECTORS
from bench.paths import project_root
from bench.plugins.loader import ENTRY_POINT_GROUP, LoadedPlugins, _load_entry_point
from bench.registry import Registry

from .cli import run_bench
from .cli import store as store
from .test_sweep import parent_and_children

EXAMPLE = project_root() / "examples" / "plugin"
DISTRIBUTION = "bench-example-plugin"
SUBSET = ("dataset.folds=[0]", "dataset.pairs_per_fold=20")
PIP_INSTALL = (sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation")


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example plugin installed with pip into a folder of its own (offline: its dependencies
    are bench's dev dependencies, already installed), built from a copy so that the checkout
    gets no build folders."""
    source = tmp_path_factory.mktemp("source") / "plugin"
    shutil.copytree(EXAMPLE, source)
    target = tmp_path_factory.mktemp("plugin")
    subprocess.run(
        [*PIP_INSTALL, "--target", str(target), str(source)],
        check=True,
        capture_output=True,
        text=True,
    )
    return target


def with_path(env: dict[str, str], *folders: Path) -> dict[str, str]:
    return {**env, "PYTHONPATH": os.pathsep.join(map(str, folders))}


def bench_list(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench", "list", "--format", "json"],
        capture_output=True,
        text=True,
        cwd=project_root(),
        env=env,
        timeout=300,
        check=True,
    )


def test_bench_list_shows_the_plugin_with_its_distribution(plugin_path: Path) -> None:
    rows = json.loads(bench_list(with_path(dict(os.environ), plugin_path)).stdout)
    assert all(set(row) == {"kind", "name", "backend", "available", "reason", "source"} for row in rows)
    by_name = {(row["kind"], row["name"]): row for row in rows}
    assert by_name["detector", "example_dlib_hog"]["source"] == DISTRIBUTION
    assert by_name["model", "example_edgeface_xs_tflite"]["source"] == DISTRIBUTION
    assert by_name["detector", "example_dlib_hog"]["available"]
    assert by_name["model", "example_edgeface_xs_tflite"]["available"]
    assert by_name["detector", "yunet"]["source"] == "bench"
    assert by_name["model", "edgeface_xs_gamma_06"]["source"] == "bench"


def test_the_plugin_registers_without_importing_its_backends(plugin_path: Path) -> None:
    script = (
        "import sys\n"
        "from bench.cli import prepare\n"
        "from bench.detectors.registry import DETECTORS\n"
        "prepare()\n"
        "assert DETECTORS.source('example_dlib_hog') == 'bench-example-plugin'\n"
        "print(sorted(m for m in ('torch', 'dlib', 'ai_edge_litert') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        env=with_path(dict(os.environ), plugin_path),
    )
    assert done.stdout.strip() == "[]"


def test_the_plugin_runs_alone(store: tuple[str, dict[str, str]], plugin_path: Path, tmp_path: Path) -> None:
    uri, env = store
    completed = run_bench(
        *SUBSET,
        "detector=example_dlib_hog",
        "model=example_edgeface_xs_tflite",
        f"hydra.run.dir={tmp_path / 'run'}",
        env=with_path(env, plugin_path),
    )
    assert completed.returncode == 0, completed.stderr
    (run,) = MlflowClient(uri).search_runs(
        [MlflowClient(uri).get_experiment_by_name("face-alignment").experiment_id]
    )
    assert run.info.status == "FINISHED"
    assert run.data.params["detector.name"] == "example_dlib_hog"
    assert run.data.params["model.family"] == "example_edgeface_tflite"
    assert run.data.metrics["num_pairs_scored"] == 20
    assert run.data.metrics["accuracy"] >= 0.9


def test_the_plugin_is_compared_beside_a_builtin(
    store: tuple[str, dict[str, str]], plugin_path: Path, tmp_path: Path
) -> None:
    uri, env = store
    sweep_dir = tmp_path / "sweep"
    completed = run_bench(
        *SUBSET,
        "detector=yunet,example_dlib_hog",
        f"hydra.sweep.dir={sweep_dir}",
        "-m",
        env=with_path(env, plugin_path),
    )
    assert completed.returncode == 0, completed.stderr
    parent, children = parent_and_children(MlflowClient(uri))
    assert parent.info.status == "FINISHED"
    assert [child.info.status for child in children] == ["FINISHED", "FINISHED"]
    comparison = (sweep_dir / "comparison.csv").read_text()
    assert "example_dlib_hog" in comparison and "yunet" in comparison
    significance = (sweep_dir / "significance.csv").read_text()
    assert "example_dlib_hog" in significance


def write_broken_plugin(folder: Path) -> None:
    """An installed distribution (its metadata as pip writes it) whose plugin module fails."""
    info = folder / "broken_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\nbroken = broken_plugin\n")
    (folder / "broken_plugin.py").write_text("import a_package_that_is_not_installed\n")


def test_a_broken_plugin_is_named_and_the_rest_still_load(plugin_path: Path, tmp_path: Path) -> None:
    write_broken_plugin(tmp_path)
    completed = bench_list(with_path(dict(os.environ), plugin_path, tmp_path))
    assert "plugin 'broken' of broken-plugin was not loaded" in completed.stderr
    assert "a_package_that_is_not_installed" in completed.stderr
    names = {row["name"] for row in json.loads(completed.stdout)}
    assert {"example_dlib_hog", "yunet", "example_edgeface_xs_tflite"} <= names


def test_a_name_is_registered_once() -> None:
    registry: Registry[str] = Registry("detector")
    registry.add("mine", "first", "one-plugin")
    with pytest.raises(ValueError, match="'mine' is already registered by one-plugin"):
        registry.add("mine", "second", "another-plugin")
    assert registry.source("mine") == "one-plugin"
    with pytest.raises(KeyError, match="unknown detector 'theirs'"):
        registry.get("theirs")


def test_a_plugin_that_fails_half_way_registers_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "half_way_plugin.py").write_text(
        "def register(registry):\n"
        "    registry.detector('half_way', lambda options, runtime: None, dict)\n"
        "    raise RuntimeError('stopped half way')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    loaded = LoadedPlugins()
    _load_entry_point(EntryPoint("half_way", "half_way_plugin", ENTRY_POINT_GROUP), loaded)
    (failure,) = loaded.failures
    assert failure.error == "RuntimeError: stopped half way"
    assert "half_way" not in DETECTORS
