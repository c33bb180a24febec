"""Face-verification metrics on scored pairs."""

from bench.metrics.verification import (
    DEFAULT_FAR_TARGETS,
    VerificationResult,
    best_accuracy_threshold,
    evaluate_verification,
    far_key,
)

__all__ = [
    "DEFAULT_FAR_TARGETS",
    "VerificationResult",
    "best_accuracy_threshold",
    "evaluate_verification",
    "far_key",
]
