"""The schemas in Hydra's ConfigStore, and the composed config turned into typed objects.

``conf/config.yaml`` starts from ``bench_schema`` (``BenchConfig``); every file of a group starts
from its group's schema (``<group>_schema``, or ``detector_<name>_schema`` for a detector, whose
options differ per method). The schemas are stored at the root, not in a group, so that they do
not show up as choices in ``--help`` or in Hydra's "available options".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field, make_dataclass
from typing import TypeVar

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from bench.config.enums import FaceSource
from bench.config.schema import (
    BenchConfig,
    BinDatasetConfig,
    CacheConfig,
    CsvPairsDatasetConfig,
    DetectorConfig,
    HardwareConfig,
    IjbDatasetConfig,
    LfwDatasetConfig,
    ModelConfig,
    OnnxModelConfig,
    PipelineConfig,
    StressConfig,
    TrackingConfig,
)
from bench.config.training import BackboneConfig, LossConfig, OptimizerConfig, TrainConfig, TrainDataConfig

Typed = TypeVar("Typed")

#: Root-level ConfigStore names of the group schemas that the YAML files start from.
GROUP_SCHEMAS: dict[str, type] = {
    "dataset_lfw_schema": LfwDatasetConfig,
    "dataset_pairs_schema": CsvPairsDatasetConfig,
    "dataset_bin_schema": BinDatasetConfig,
    "dataset_ijb_schema": IjbDatasetConfig,
    "model_schema": ModelConfig,
    "model_onnx_schema": OnnxModelConfig,
    "hardware_schema": HardwareConfig,
    "cache_schema": CacheConfig,
    "pipeline_schema": PipelineConfig,
    "tracking_schema": TrackingConfig,
    "stress_schema": StressConfig,
    "backbone_schema": BackboneConfig,
    "loss_schema": LossConfig,
    "optimizer_schema": OptimizerConfig,
    "data_schema": TrainDataConfig,
}


def detector_schema(name: str, options: type, source: FaceSource) -> type[DetectorConfig]:
    """``DetectorConfig`` with ``name`` and ``source`` fixed and ``options`` typed as that
    detector's options."""
    return make_dataclass(
        f"{options.__name__.removesuffix('Options')}DetectorConfig",
        [
            ("name", str, field(default=name)),
            ("source", FaceSource, field(default=source)),
            ("options", options, field(default_factory=options)),
        ],
        bases=(DetectorConfig,),
    )


def register_configs(detectors: Mapping[str, tuple[type, FaceSource]]) -> None:
    """Store every schema, a detector's from its registered options (``bench.plugins`` calls
    this once every component is registered; idempotent: Hydra replaces an entry stored twice)."""
    store = ConfigStore.instance()
    store.store(name="bench_schema", node=BenchConfig)
    store.store(name="train_schema", node=TrainConfig)
    for name, schema in GROUP_SCHEMAS.items():
        store.store(name=name, node=schema)
    for name, (options, source) in detectors.items():
        store.store(name=f"detector_{name}_schema", node=detector_schema(name, options, source))


def to_typed_config(cfg: DictConfig, schema: type[Typed]) -> Typed:
    """A config composed on ``schema`` as typed objects; range errors (``ConfigValueError``)
    raise here."""
    config = OmegaConf.to_object(cfg)
    if not isinstance(config, schema):
        raise TypeError(f"expected a config composed on {schema.__name__}, got {type(config).__name__}")
    return config


def to_bench_config(cfg: DictConfig) -> BenchConfig:
    """The benchmark's composed config (``conf/config.yaml``) as typed objects."""
    return to_typed_config(cfg, BenchConfig)
