"""Quality signals in real runs: every image's signals, each signal's error-versus-discard curve,
and what the network measures while it embeds."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest

from bench.metrics import keys
from bench.models import EmbedSettings, model_family
from bench.pipeline import BenchmarkResult
from bench.quality import SIGNALS
from bench.reporting.edc import EDC_COLUMNS, edc_report
from bench.runtime import Runtime
from bench.tracking.artifacts import write_quality

from .conftest import bench_config, run_benchmark

ONE_FOLD = ("dataset.folds=[0]", "dataset.pairs_per_fold=60", "cache=off")


@pytest.fixture(scope="module")
def yunet_run() -> BenchmarkResult:
    return run_benchmark(*ONE_FOLD, "detector=yunet", "quality.mirror_agreement=true")


def test_every_image_has_every_signal_it_can_give(yunet_run: BenchmarkResult, tmp_path: Path) -> None:
    assert list(yunet_run.quality) == list(SIGNALS)
    detected = [index for index, record in enumerate(yunet_run.records) if record.face is not None]
    assert len(detected) == len(yunet_run.records)
    for name, values in yunet_run.quality.items():
        assert np.isfinite(values[detected]).all(), name
    assert (yunet_run.quality["iod_px"] > 20).all()
    assert (yunet_run.quality["mirror_agreement"] > 0.5).all()

    path = write_quality(yunet_run, tmp_path / "quality.csv")
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["image", "stressed", "status", "fallback", *SIGNALS]
    assert [row["image"] for row in rows] == [record.path for record in yunet_run.records]


def test_each_signal_gets_its_curve_and_a_metric(yunet_run: BenchmarkResult, tmp_path: Path) -> None:
    assert [curve.signal for curve in yunet_run.edc] == list(SIGNALS)
    for curve in yunet_run.edc:
        assert yunet_run.metrics[keys.edc_pauc(curve.signal)] == curve.pauc_20
        assert curve.ideal_pauc_20 <= curve.pauc_20 + 1e-12
    # 30 impostor pairs cannot support an FMR of 1e-3: the lowest they can is used, and recorded.
    assert yunet_run.edc[0].num_impostor == 30
    assert yunet_run.metrics[keys.EDC_FMR] == pytest.approx(1 / 30)
    table, plot = edc_report(yunet_run.edc, tmp_path)
    with table.open(newline="") as handle:
        assert tuple(next(csv.reader(handle))) == EDC_COLUMNS
    assert plot.stat().st_size > 0


def test_a_placeholder_score_and_an_unmeasured_signal_are_absent() -> None:
    result = run_benchmark(*ONE_FOLD, "detector=center_crop")
    assert np.isnan(result.quality["detector_score"]).all()
    assert np.isnan(result.quality["mirror_agreement"]).all()
    assert np.isfinite(result.quality["sharpness"]).all()
    signals = {curve.signal for curve in result.edc}
    assert "detector_score" not in signals and "mirror_agreement" not in signals
    assert "sharpness" in signals and "embedding_norm" in signals


def test_the_network_measures_its_features_norm_and_its_mirrors_agreement(
    lfw_images: list[np.ndarray],
) -> None:
    config = bench_config()
    runtime = Runtime.from_config(config.hardware, config.pipeline)
    embedder = model_family(config.model).build(
        config.model, runtime, EmbedSettings.from_hardware(config.hardware, runtime.embed_batch_size)
    )
    faces = np.stack([image[69:181, 69:181] for image in lfw_images])
    plain = embedder.embed(faces)
    measured = embedder.embed_measured(faces, mirror=True)
    np.testing.assert_array_equal(measured.vectors, plain)
    assert measured.mirror_agreement is not None
    mirrored = embedder.embed(faces[:, :, ::-1].copy())
    # Unit rows: their cosine is the dot product, which the measured agreement reproduces.
    np.testing.assert_allclose(measured.mirror_agreement, np.sum(plain * mirrored, axis=1), atol=1e-5)
    assert (measured.norms > 0).all() and not math.isnan(float(measured.norms.sum()))
    assert embedder.embed_measured(faces).mirror_agreement is None
