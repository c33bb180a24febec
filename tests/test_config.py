"""Every config group option composes; bad overrides fail with Hydra's own errors."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hydra.errors import ConfigCompositionException, MissingConfigException

from bench.detectors import list_detectors
from bench.paths import project_root

from .conftest import CONF_DIR, compose_config

GROUPS = ("detector", "dataset", "model", "hardware", "tracking")


def options(group: str) -> list[str]:
    return sorted(path.stem for path in (CONF_DIR / group).glob("*.yaml"))


@pytest.mark.parametrize(("group", "option"), [(g, o) for g in GROUPS for o in options(g)])
def test_every_group_option_composes(group: str, option: str) -> None:
    cfg = compose_config([f"{group}={option}"])
    assert cfg[group] is not None
    # Interpolations (project root, env-overridable tracking URI) must resolve.
    assert cfg.tracking.uri.startswith(("sqlite:", "http", "file:"))


def test_defaults() -> None:
    cfg = compose_config()
    assert (cfg.detector.name, cfg.dataset.name, cfg.model.name, cfg.hardware.device) == (
        "yunet",
        "lfw",
        "edgeface_xs_gamma_06",
        "cpu",
    )
    assert cfg.failure_policy == "center_crop"
    assert cfg.selection == "center_weighted"


def test_every_detector_config_names_a_registered_detector() -> None:
    for option in options("detector"):
        assert compose_config([f"detector={option}"]).detector.name in list_detectors()


def test_tracking_uri_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    assert compose_config().tracking.uri == "http://127.0.0.1:5999"
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    assert compose_config().tracking.uri == f"sqlite:///{project_root()}/mlruns.db"


def test_aligned_dataset_reuses_the_lfw_protocol() -> None:
    cfg = compose_config(["dataset=lfw_aligned", "detector=none"])
    assert (cfg.dataset.images, cfg.dataset.pairs, cfg.dataset.aligned) == (
        "lfw_aligned_112",
        "lfw_pairs",
        True,
    )


def test_unknown_option_is_hydras_error() -> None:
    with pytest.raises(MissingConfigException, match="detector"):
        compose_config(["detector=no_such_detector"])


def test_unknown_key_is_hydras_error() -> None:
    with pytest.raises(ConfigCompositionException, match="no_such_key"):
        compose_config(["detector.no_such_key=1"])


def test_cli_rejects_a_bad_override_before_any_work() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "detector=no_such_detector"],
        capture_output=True,
        text=True,
        cwd=project_root(),
        timeout=120,
    )
    assert completed.returncode != 0
    assert "Could not find 'detector/no_such_detector'" in completed.stderr
    assert "yunet" in completed.stderr  # Hydra lists the available options
