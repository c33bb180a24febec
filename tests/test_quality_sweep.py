"""Quality in a real sweep: two recognition families under Gaussian noise of two severities, through a
real MLflow store. The parent run gets each job's signals side by side, each family's signals
scored against the other's errors, and the stress report's detector scores across severities."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from mlflow.tracking import MlflowClient

from bench.metrics import keys
from bench.reporting.quality import EDC_BY_JOB_FILE, EDC_CROSS_MODEL_FILE, EDC_MARKDOWN, MODEL_SIGNALS

from .cli import run_bench
from .cli import store as store
from .test_sweep import artifact_names, parent_and_children

MODELS = ("edgeface_xs_gamma_06", "sface_int8")


def test_a_sweep_over_models_and_severities_reports_quality_per_job_and_across_models(
    store: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    uri, env = store
    sweep_dir = tmp_path / "sweep"
    completed = run_bench(
        "detector=yunet",
        f"model={','.join(MODELS)}",
        "stress=gaussian_noise",
        "stress.severity=1,5",
        "quality.mirror_agreement=true",
        "dataset.folds=[0]",
        "dataset.pairs_per_fold=60",
        f"hydra.sweep.dir={sweep_dir}",
        "-m",
        env=env,
    )
    assert completed.returncode == 0, completed.stderr
    client = MlflowClient(uri)
    parent, children = parent_and_children(client)
    assert len(children) == 4 and all(child.info.status == "FINISHED" for child in children)
    median_score = keys.quality_median("detector_score")
    for child in children:
        if child.data.params["stress.severity"] == "1":
            assert 0.6 <= child.data.metrics[median_score] <= 1.0  # YuNet's threshold is 0.6
        else:  # YuNet finds no face in noise 5: its score is absent, not invented
            assert child.data.metrics[keys.SUCCESS_RATE] < 0.1
            assert median_score not in child.data.metrics
    assert artifact_names(client, parent) >= {EDC_BY_JOB_FILE, EDC_CROSS_MODEL_FILE, EDC_MARKDOWN}

    by_job = pd.read_csv(sweep_dir / EDC_BY_JOB_FILE)
    noisy = by_job[by_job["job"].str.contains("severity=5")]
    assert len(noisy) == 2 and (noisy["fnmr"] > 0).all()  # noise 5 makes false non-matches
    assert np.isfinite(noisy[["ideal", "sharpness", "embedding_norm", "mirror_agreement"]]).all().all()

    crossed = pd.read_csv(sweep_dir / EDC_CROSS_MODEL_FILE)
    noise_setting = crossed[crossed["setting"] == "stress.severity=5"]
    graded_by = {
        (row.graded, row.grader) for row in noise_setting.itertuples() if row.signal == "embedding_norm"
    }
    assert graded_by == {(a, b) for a in MODELS for b in MODELS}  # each family grades both
    assert set(noise_setting["signal"]) == set(MODEL_SIGNALS)
    assert np.isfinite(noise_setting["ratio"]).all()

    # The stress report of each family follows the detector's score across severities.
    for model in MODELS:
        assert (sweep_dir / f"stress_{model}" / "stress_detector_score.png").is_file()
