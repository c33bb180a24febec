"""The accuracy targets on full LFW (6,000 pairs). Slow: `make test-slow`.

Methods with real face landmarks must reach 99.3 % and 99 % detection success (issue 3);
the core targets (YuNet, MTCNN, the aligned ceiling) are higher (issue 2).
"""

from __future__ import annotations

import pytest

from .conftest import run_benchmark

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("overrides", "min_accuracy", "min_success"),
    [
        (["detector=yunet"], 0.9950, 0.999),
        (["detector=mtcnn"], 0.9940, 0.99),
        *(
            ([f"detector={method}"], 0.9930, 0.99)
            for method in (
                "yolov5_face",
                "yolov8_face",
                "retinaface",
                "mediapipe_detection",
                "mediapipe_mesh",
            )
        ),
        (["dataset=lfw_aligned", "detector=none"], 0.9970, 1.0),
        (["dataset=lfw_aligned", "detector=none", "model=edgeface_xs_q"], 0.9940, 1.0),
        (["dataset=lfw_aligned", "detector=none", "model=edgeface_xxs_q"], 0.9920, 1.0),
    ],
)
def test_full_lfw(overrides: list[str], min_accuracy: float, min_success: float) -> None:
    metrics = run_benchmark(*overrides).metrics
    assert metrics["num_pairs_scored"] == 6000
    assert metrics["accuracy"] >= min_accuracy, metrics
    assert metrics["success_rate"] >= min_success, metrics
