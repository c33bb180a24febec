"""Face-verification metrics on scored pairs, and the keys every metric is logged under."""

from bench.metrics import keys
from bench.metrics.evaluation import PairEvaluation, evaluate_pairs, pair_scores
from bench.metrics.keys import DEFAULT_FAR_TARGETS
from bench.metrics.verification import VerificationResult, best_accuracy_threshold, evaluate_verification

__all__ = [
    "DEFAULT_FAR_TARGETS",
    "PairEvaluation",
    "VerificationResult",
    "best_accuracy_threshold",
    "evaluate_pairs",
    "evaluate_verification",
    "keys",
    "pair_scores",
]
