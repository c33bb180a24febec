"""Face-verification metrics on scored pairs, and the keys every metric is logged under."""

from bench.metrics import keys
from bench.metrics.evaluation import PairEvaluation, evaluate_pairs, pair_scores
from bench.metrics.keys import DEFAULT_FAR_TARGETS
from bench.metrics.significance import (
    McNemar,
    PairwiseTest,
    Significance,
    bootstrap_accuracies,
    holm,
    letter_groups,
    mcnemar_exact,
    pairwise_significance,
)
from bench.metrics.verification import (
    CrossValidatedDecisions,
    VerificationResult,
    best_accuracy_threshold,
    cross_validated_decisions,
    evaluate_verification,
)

__all__ = [
    "DEFAULT_FAR_TARGETS",
    "CrossValidatedDecisions",
    "McNemar",
    "PairEvaluation",
    "PairwiseTest",
    "Significance",
    "VerificationResult",
    "best_accuracy_threshold",
    "bootstrap_accuracies",
    "cross_validated_decisions",
    "evaluate_pairs",
    "evaluate_verification",
    "holm",
    "keys",
    "letter_groups",
    "mcnemar_exact",
    "pair_scores",
    "pairwise_significance",
]
