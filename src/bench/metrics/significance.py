"""Whether methods scored on the same pairs differ beyond chance, by how much, and which tie.

The cross-validated accuracy is a mean of per-pair decisions (each pair decided by the threshold
its fold chose on the other folds, :class:`~bench.metrics.verification.CrossValidatedDecisions`),
so on the same pairs two methods differ only on the *discordant* pairs, those that exactly one of
them decides right. The exact McNemar test asks whether the discordant pairs split more unevenly
than a fair coin would make them; being paired, it is not drowned by the pairs both methods find
easy or both find hard, as comparing two accuracies with their own intervals would be. A paired
bootstrap gives the size of the difference, and Holm's correction keeps the chance of calling any
tie of a sweep "significant" at ``alpha`` however many methods it compares.
"""

from __future__ import annotations

import string
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import networkx as nx
import numpy as np
from scipy.stats import binomtest

from bench.metrics.verification import CrossValidatedDecisions

ALPHA = 0.05
RESAMPLES = 2000
SEED = 0


@dataclass(frozen=True)
class McNemar:
    """The exact McNemar test of methods A and B on the same pairs."""

    n01: int  # pairs A decides wrong and B right
    n10: int  # pairs A decides right and B wrong
    p_value: float  # two-sided


@dataclass(frozen=True)
class PairwiseTest:
    """Methods A and B compared on the same pairs; A is the more accurate (or tied)."""

    method_a: str
    method_b: str
    accuracy_a: float
    accuracy_b: float
    difference: float  # accuracy_a - accuracy_b
    ci_low: float  # paired bootstrap interval of the difference, not adjusted for multiplicity
    ci_high: float
    n01: int
    n10: int
    p_value: float
    p_holm: float
    significant: bool  # p_holm < alpha


@dataclass(frozen=True)
class Significance:
    """Every pair of methods tested on the same pairs, and the groups of methods that tie."""

    ranked: list[str]  # the methods, most accurate first
    tests: list[PairwiseTest]  # in rank order: (1, 2), (1, 3), ..., (2, 3), ...
    groups: dict[str, list[str]]  # group letter -> its methods, from the best group
    num_pairs: int
    alpha: float
    resamples: int
    seed: int

    @property
    def letters(self) -> dict[str, str]:
        """Each method's group letters ("ab": in groups a and b), methods in rank order."""
        letters = dict.fromkeys(self.ranked, "")
        for letter, methods in self.groups.items():
            for method in methods:
                letters[method] += letter
        return letters


def mcnemar_exact(correct_a: np.ndarray, correct_b: np.ndarray) -> McNemar:
    """Exact McNemar test: under "A and B are equally accurate" each discordant pair is A's with
    probability 1/2, so ``n10`` of ``n01 + n10`` is binomial; the p-value is scipy's two-sided
    ``binomtest``. Without discordant pairs the methods decide alike and p is 1."""
    correct_a, correct_b = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    if correct_a.shape != correct_b.shape or correct_a.ndim != 1:
        raise ValueError(f"per-pair decisions of shapes {correct_a.shape} and {correct_b.shape}")
    n01, n10 = int(np.sum(~correct_a & correct_b)), int(np.sum(correct_a & ~correct_b))
    p_value = binomtest(n10, n01 + n10, 0.5).pvalue if n01 + n10 else 1.0
    return McNemar(n01, n10, float(p_value))


def bootstrap_accuracies(
    correct: np.ndarray, fold: np.ndarray, resamples: int = RESAMPLES, seed: int = SEED
) -> np.ndarray:
    """Each method's accuracy (a row of ``correct``, per-pair decisions) on ``resamples``
    bootstrap samples of the pairs, as an array (methods, resamples).

    Every sample draws each fold's pairs with replacement (``fold`` per pair), keeping the folds'
    sizes, so its accuracy is the same mean of fold accuracies the run reports; all methods get
    the same draws, so differences between rows are paired. Seeded: the same input gives the same
    samples."""
    correct = np.atleast_2d(np.asarray(correct, dtype=np.float64))
    fold = np.asarray(fold)
    if fold.shape != correct.shape[1:]:
        raise ValueError(f"{fold.size} fold ids for {correct.shape[1]} pairs")
    rng = np.random.default_rng(seed)
    folds = np.unique(fold)
    total = np.zeros((correct.shape[0], resamples))
    for k in folds:
        members = np.flatnonzero(fold == k)
        # How often each pair of the fold is drawn in each sample: draws with replacement.
        counts = rng.multinomial(members.size, np.full(members.size, 1 / members.size), size=resamples)
        total += correct[:, members] @ counts.T / members.size
    return total / folds.size


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjustment: the k-th smallest of m p-values is multiplied by m - k + 1,
    kept non-decreasing in that order and capped at 1. Rejecting where the adjusted p < alpha
    keeps the chance of any false rejection at alpha, whatever the tests' dependence."""
    p_values = np.asarray(p_values, dtype=np.float64)
    order = np.argsort(p_values, kind="stable")
    scaled = p_values[order] * (p_values.size - np.arange(p_values.size))
    adjusted = np.empty_like(p_values)
    adjusted[order] = np.minimum(1.0, np.maximum.accumulate(scaled))
    return adjusted


def letter_groups(ranked: Sequence[str], differ: Collection[frozenset[str]]) -> dict[str, list[str]]:
    """The groups of methods that do not differ significantly, by letter (a compact letter
    display). ``ranked`` lists the methods best first; ``differ`` holds the pairs that differ
    significantly. A group is a largest set of methods no two of which differ: a maximal clique
    of the graph joining every two methods the test does not tell apart (``networkx``), so two
    methods share a letter exactly when the test does not tell them apart, and a method can be
    in several groups. Groups are lettered a, b, ... in the order of their members' ranks (then
    A-Z, then numbers in parentheses)."""
    position = {method: index for index, method in enumerate(ranked)}
    graph = nx.Graph()
    graph.add_nodes_from(ranked)
    graph.add_edges_from(
        (a, b)
        for index, a in enumerate(ranked)
        for b in ranked[index + 1 :]
        if frozenset((a, b)) not in differ
    )
    cliques = sorted(
        (sorted(clique, key=position.__getitem__) for clique in nx.find_cliques(graph)),
        key=lambda clique: [position[method] for method in clique],
    )
    return {_group_name(number): clique for number, clique in enumerate(cliques)}


def _group_name(number: int) -> str:
    return string.ascii_letters[number] if number < len(string.ascii_letters) else f"({number + 1})"


def pairwise_significance(
    decisions: Mapping[str, CrossValidatedDecisions],
    alpha: float = ALPHA,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> Significance:
    """Test every pair of methods decided on the same pairs (in the same order, in the same folds):
    exact McNemar, Holm-adjusted over all method pairs; the ``1 - alpha`` percentile interval of
    each accuracy difference from :func:`bootstrap_accuracies`; groups by :func:`letter_groups`.
    Methods are ranked by accuracy, ties in the order given; at least two are needed.

    McNemar weighs every pair alike where the accuracy weighs every fold alike: the two agree
    when the folds are of one size, as LFW's are, and stay close on a common subset."""
    if len(decisions) < 2:
        raise ValueError(f"significance needs at least 2 methods, got {len(decisions)}")
    ranked = sorted(decisions, key=lambda method: -decisions[method].accuracy)
    folds = [decisions[method].fold for method in ranked]
    if any(not np.array_equal(fold, folds[0]) for fold in folds[1:]):
        raise ValueError("the methods were not decided on the same pairs in the same folds")
    correct = np.array([decisions[method].correct for method in ranked], dtype=bool)
    accuracies = [decisions[method].accuracy for method in ranked]
    samples = bootstrap_accuracies(correct, folds[0], resamples, seed)
    indices = [(a, b) for a in range(len(ranked)) for b in range(a + 1, len(ranked))]
    mcnemar = [mcnemar_exact(correct[a], correct[b]) for a, b in indices]
    adjusted = holm([test.p_value for test in mcnemar])
    tests = []
    for (a, b), test, p_holm in zip(indices, mcnemar, adjusted, strict=True):
        low, high = np.quantile(samples[a] - samples[b], [alpha / 2, 1 - alpha / 2])
        tests.append(
            PairwiseTest(
                ranked[a],
                ranked[b],
                accuracies[a],
                accuracies[b],
                accuracies[a] - accuracies[b],
                float(low),
                float(high),
                test.n01,
                test.n10,
                test.p_value,
                float(p_holm),
                bool(p_holm < alpha),
            )
        )
    differ = {frozenset((test.method_a, test.method_b)) for test in tests if test.significant}
    groups = letter_groups(ranked, differ)
    return Significance(ranked, tests, groups, correct.shape[1], alpha, resamples, seed)
