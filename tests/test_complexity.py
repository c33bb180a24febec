"""Parameters and FLOPs of the EdgeFace layouts against the paper, and ``bench flops``."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bench.models import create_embedder
from bench.models.complexity import PUBLISHED, complexity
from bench.models.edgeface import VARIANTS
from bench.paths import project_root


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_every_published_layout_matches_the_paper_within_two_percent(name: str) -> None:
    variant = VARIANTS[name]
    counted = complexity(variant.arch, variant.rank_ratio)
    params, mflops = PUBLISHED[name]
    assert counted.parameters / 1e6 == pytest.approx(params, rel=0.02)
    assert counted.flops / 1e6 == pytest.approx(mflops, rel=0.02)
    # Closer than that: within 0.2 % (the counter leaves out normalisations and activations).
    assert counted.flops / 1e6 == pytest.approx(mflops, rel=0.002)


def test_the_cli_prints_every_variant_against_the_paper() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "flops"],
        capture_output=True,
        text=True,
        cwd=project_root(),
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    for name in VARIANTS:
        assert f"| {name} |" in completed.stdout
    assert (
        "| edgeface_xs_gamma_06 | edgenext_x_small | 0.6 | no | 1.770 | 153.79 | 1.77 | 154.00 | -0.14 % |"
        in (completed.stdout)
    )


def test_a_run_records_its_model_flops() -> None:
    embedder = create_embedder({"name": "edgeface_xxs_q"})
    assert embedder.describe()["model_mflops"] == "94.60"  # the int8 model: its float layout's count
