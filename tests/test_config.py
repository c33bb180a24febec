"""The typed configuration: every option composes on its schema, the YAML defaults agree with
the schemas and the registries, and a bad value stops before any work, naming the key."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from typing import Any

import pytest
from hydra.errors import ConfigCompositionException, MissingConfigException
from omegaconf import OmegaConf

from bench.config import (
    BenchConfig,
    ConfigValueError,
    HardwareConfig,
    ModelConfig,
    Selection,
    to_bench_config,
)
from bench.detectors import detector_entry, list_detectors
from bench.models.edgeface import VARIANTS
from bench.paths import project_root

from .conftest import CONF_DIR, bench_config, compose_config

GROUPS = ("detector", "dataset", "model", "hardware", "cache", "pipeline", "tracking", "stress")
#: Options that cannot compose alone: the pairs data set needs its folder and CSV, a .bin its
#: file, IJB its root, and the given landmarks a data set that has them.
REQUIRED = {
    ("dataset", "pairs"): ["dataset.root=/data", "dataset.pairs_csv=/data/pairs.csv"],
    ("dataset", "bin"): ["dataset.path=/data/cfp_fp.bin"],
    ("dataset", "ijbb"): ["dataset.root=/data/IJBB"],
    ("dataset", "ijbc"): ["dataset.root=/data/IJBC"],
    ("detector", "given"): ["dataset=ijbc", "dataset.root=/data/IJBC"],
    ("model", "onnx"): ["model.path=/models/edgeface.onnx"],
}


def options(group: str) -> list[str]:
    return sorted(path.stem for path in (CONF_DIR / group).glob("*.yaml"))


@pytest.mark.parametrize(("group", "option"), [(g, o) for g in GROUPS for o in options(g)])
def test_every_group_option_becomes_a_typed_config(group: str, option: str) -> None:
    config = bench_config(f"{group}={option}", *REQUIRED.get((group, option), []))
    assert isinstance(config, BenchConfig)
    # Interpolations (project root, env-overridable tracking URI) resolve.
    assert config.tracking.uri.startswith(("sqlite:", "http", "file:"))


def test_defaults() -> None:
    config = bench_config()
    assert (config.detector.name, config.dataset.name, config.model.name) == (
        "yunet",
        "lfw",
        "edgeface_xs_gamma_06",
    )
    assert str(config.hardware.device) == "cpu" and config.selection is Selection.center_weighted
    assert config.failure_policy == "center_crop"


@pytest.mark.parametrize("name", options("detector"))
def test_every_detector_yaml_binds_to_its_schema_and_factory(name: str) -> None:
    """The YAML names a registered detector, its options are that entry's schema, its face source
    the entry's, and every value it spells out is the schema's default (the YAML repeats them for
    the reader)."""
    config = bench_config(f"detector={name}", *REQUIRED.get(("detector", name), []))
    assert config.detector.name == name in list_detectors()
    entry = detector_entry(name)
    assert type(config.detector.options) is entry.options
    assert config.detector.source is entry.source
    written = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "detector" / f"{name}.yaml")["options"])
    assert _differences(written, dataclasses.asdict(entry.options())) == {}, "YAML and schema disagree"


@pytest.mark.parametrize("name", [name for name in options("model") if name != "onnx"])
def test_every_model_yaml_names_a_model_of_its_family_and_leaves_it_its_layout(name: str) -> None:
    """Each YAML is its family's model by name with the schema's defaults (EdgeFace's: the
    published variant's layout), so that the YAML and ``model_config({"name": ...})`` agree."""
    from bench.models.registry import FAMILIES, family_serving

    model = bench_config(f"model={name}").model
    family = family_serving(name)
    assert family is not None and model.family == family and name in FAMILIES.get(family).models
    assert model == ModelConfig(name=name, family=family)
    assert family != "edgeface" or name in VARIANTS


def test_the_onnx_model_is_named_after_its_file_which_it_needs() -> None:
    model = bench_config("model=onnx", "model.path=exports/edgeface_xs_gamma_06.onnx").model
    assert (model.name, model.path) == ("edgeface_xs_gamma_06", "exports/edgeface_xs_gamma_06.onnx")
    for missing in ([], ["model.path=weights.pt"]):
        with pytest.raises(ConfigValueError, match=r"model\.path must name the \.onnx file"):
            bench_config("model=onnx", *missing)


def test_hardware_yaml_agrees_with_its_schema_defaults() -> None:
    cpu = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "hardware" / "cpu.yaml"))
    assert isinstance(cpu, dict)
    cpu.pop("defaults")
    assert _differences(cpu, dataclasses.asdict(HardwareConfig())) == {
        "onnx_providers": ["CPUExecutionProvider"]
    }


def test_a_model_mapping_is_checked_like_the_yaml() -> None:
    from bench.models import model_config

    assert model_config({"name": "edgeface_xs_q"}) == ModelConfig(name="edgeface_xs_q")
    with pytest.raises(ValueError, match=r"unknown model config keys \['rank_ration'\]"):
        model_config({"name": "edgeface_xs_gamma_06", "rank_ration": 0.6})


def test_tracking_uri_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    assert bench_config().tracking.uri == "http://127.0.0.1:5999"
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    assert bench_config().tracking.uri == f"sqlite:///{project_root()}/mlruns.db"


@pytest.mark.parametrize("group", ["mlflow", "server"])
def test_tracking_uri_on_the_command_line_wins_over_the_environment(
    monkeypatch: pytest.MonkeyPatch, group: str
) -> None:
    # The environment replaces the group's default address; an explicit override replaces both.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    config = bench_config(f"tracking={group}", "tracking.uri=sqlite:///elsewhere.db")
    assert config.tracking.uri == "sqlite:///elsewhere.db"


def test_aligned_dataset_reuses_the_lfw_protocol() -> None:
    dataset = bench_config("dataset=lfw_aligned", "detector=none").dataset
    assert (dataset.images, dataset.pairs, dataset.aligned) == ("lfw_aligned_112", "lfw_pairs", True)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "detector.options.score_threshold=abc",
            r"Value 'abc' of type 'str' could not be converted to Float",
        ),
        ("selection=biggest", r"Invalid value 'biggest', expected one of \[center_weighted, largest"),
        ("detector.options.score_treshold=0.5", r"Key 'score_treshold' not in 'YuNetOptions'"),
        ("failure_policy=skip", r"Invalid value 'skip', expected one of \[center_crop, exclude, error\]"),
        ("dataset.on_missing=skip", r"Invalid value 'skip', expected one of \[error, count\]"),
        ("hardware.precision=fp64", r"Invalid value 'fp64', expected one of \[auto, fp32, fp16, bf16\]"),
        ("detector.no_such_key=1", r"no_such_key"),
        ("stress.name=rain", r"Invalid value 'rain', expected one of \[none, gaussian_noise"),
        ("stress.sides=left", r"Invalid value 'left', expected one of \[both, one\]"),
    ],
)
def test_a_wrong_type_or_choice_fails_at_composition(override: str, message: str) -> None:
    with pytest.raises(ConfigCompositionException) as error:
        compose_config([override])
    assert _cause_matches(error.value, message), error.value


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("hardware.batch_size=0", r"hardware.batch_size must be an integer >= 1, got 0"),
        (
            "hardware.embed_batch_size=-4",
            r"hardware.embed_batch_size must be an integer >= 1 or null, got -4",
        ),
        ("hardware.num_workers=-1", r"hardware.num_workers must be an integer >= 0 or null, got -1"),
        ("hardware.detect_threads=0", r"hardware.detect_threads must be an integer >= 1 or null, got 0"),
        ("detect_max_side=8", r"detect_max_side must be at least 32 pixels, got 8"),
        ("pipeline.embed_workers=0", r"pipeline.embed_workers must be >= 1, got 0"),
        ("fallback_crop_fraction=5", r"fallback_crop_fraction must lie in \(0, 1\], got 5.0"),
        ("dataset.folds=[]", r"dataset.folds must name at least one fold or be null, got \[\]"),
        ("stress=fog stress.severity=6", r"stress.severity must lie in \[1, 5\], got 6"),
        ("stress=rotation stress.levels=[10,20]", r"stress.levels must hold one value per severity \(5\)"),
        ("stress=rotation stress.levels=null", r"stress.levels must be given for a geometric condition"),
        ("stress=fog stress.levels=[1,2,3,4,5]", r"stress.levels must be given for a geometric condition"),
        ("stress=downscale stress.levels=[1,0.5,0,0.2,0.1]", r"stress.levels must be > 0"),
        (
            "detector=mtcnn detector.options.scale_factor=1.5",
            r"detector.options.scale_factor must lie in \(0, 1\)",
        ),
        (
            "detector.options.score_threshold=2",
            r"detector.options.score_threshold must lie in \[0, 1\], got 2.0",
        ),
        ("detector.options.score_threshold=-0.1", r"detector.options.score_threshold must lie in \[0, 1\]"),
        (
            "detector.options.nms_threshold=1.5",
            r"detector.options.nms_threshold must lie in \[0, 1\], got 1.5",
        ),
        *(
            (f"detector={name} detector.options.score_threshold=1.5", r"score_threshold must lie in \[0, 1\]")
            for name in ("retinaface", "yolov5_face", "yolov8_face", "mediapipe_detection", "mediapipe_mesh")
        ),
        (
            "detector=mtcnn detector.options.score_threshold=[0.6,0.7,1.5]",
            r"detector.options.score_threshold must lie in \[0, 1\] for every net, got \[0.6, 0.7, 1.5\]",
        ),
        (
            "detector=mtcnn detector.options.nms_threshold=[0.7,-0.1,0.7]",
            r"detector.options.nms_threshold must lie in \[0, 1\] for every net, got \[0.7, -0.1, 0.7\]",
        ),
    ],
)
def test_a_value_out_of_range_fails_when_the_config_is_typed(override: str, message: str) -> None:
    with pytest.raises(ConfigValueError, match=message):
        to_bench_config(compose_config(override.split()))


def test_unknown_option_is_hydras_error() -> None:
    with pytest.raises(MissingConfigException, match="detector"):
        compose_config(["detector=no_such_detector"])


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("detector=no_such_detector", ["Could not find 'detector/no_such_detector'", "yunet"]),
        ("hardware.batch_size=0", ["hardware.batch_size must be an integer >= 1, got 0"]),
        (
            "detector.options.score_threshold=2",
            ["detector.options.score_threshold must lie in [0, 1], got 2.0"],
        ),
        ("detector.options.score_threshold=abc", ["could not be converted to Float", "score_threshold"]),
        ("selection=biggest", ["Invalid value 'biggest'", "center_weighted, largest, highest_score"]),
        ("detector.options.score_treshold=0.5", ["score_treshold", "YuNetOptions"]),
        (
            "detector=none stress=rotation",
            ["stress=rotation is geometric: on already aligned faces (dataset=lfw_aligned)"],
        ),
    ],
)
def test_the_cli_stops_before_any_model_loads(override: str, expected: list[str]) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "bench", *override.split()],
        capture_output=True,
        text=True,
        cwd=project_root(),
        timeout=120,
    )
    assert completed.returncode != 0
    for text in expected:
        assert text in completed.stderr, completed.stderr
    assert "MLflow run" not in completed.stderr and "Loading" not in completed.stderr


def _differences(written: Any, defaults: dict[str, Any]) -> dict[str, Any]:
    """The YAML values that differ from the schema's defaults (interpolations are the YAML's
    own, like ``${fallback_crop_fraction}``, and not compared)."""
    assert isinstance(written, dict)
    differing = {}
    for key, value in written.items():
        default = defaults[key]
        if isinstance(value, str) and value.startswith("${"):
            continue
        if isinstance(value, dict) and isinstance(default, dict) and value:
            if nested := _differences(value, default):
                differing[key] = nested
        elif value != default and value != getattr(default, "value", default):
            differing[key] = value
    return differing


def _cause_matches(error: BaseException | None, message: str) -> bool:
    """Whether ``message`` is in the error or in the chain of its causes (Hydra wraps OmegaConf's)."""
    while error is not None:
        if re.search(message, str(error)):
            return True
        error = error.__cause__
    return False
