"""The stress conditions' spec table: every condition has exactly one spec, and ``Stress``
dispatches through it with no fall-through to another condition."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import pytest
from imagecorruptions import get_corruption_names

from bench.config import GEOMETRIC_CONDITIONS, SEVERITIES, StressCondition, StressConfig, StressKind
from bench.stress import Stress, specs
from bench.stress.specs import SPECS, spec_of

#: The kinds whose conditions run bench's own code, each its own function.
OWN_CODE = {StressKind.geometric, StressKind.placed_by_the_face}


def test_every_condition_has_exactly_one_spec() -> None:
    counts = Counter(spec.condition for spec in SPECS)
    assert [condition for condition in StressCondition if condition not in counts] == []
    assert [condition for condition, count in counts.items() if count > 1] == []
    assert all(spec_of(condition).condition is condition for condition in StressCondition)


def test_the_conditions_that_take_levels_are_those_with_default_levels() -> None:
    for spec in SPECS:
        assert (spec.default_levels is not None) == (spec.condition in GEOMETRIC_CONDITIONS), spec
        levels = None if spec.default_levels is None else list(spec.default_levels)
        assert StressConfig(name=spec.condition, levels=levels).levels == levels
    assert all(
        len(spec.default_levels) == SEVERITIES and min(spec.default_levels) > 0
        for spec in SPECS
        if spec.default_levels is not None
    )


def test_each_geometric_condition_is_applied_by_a_function_of_its_own() -> None:
    functions = [spec.apply for spec in SPECS if spec.kind in OWN_CODE]
    assert len(functions) == len(GEOMETRIC_CONDITIONS)
    assert len(set(functions)) == len(functions)
    shared = {spec.apply for spec in SPECS if spec.kind not in OWN_CODE}
    assert not shared & set(functions)


def test_each_photometric_condition_is_a_corruption_the_library_knows_by_that_name() -> None:
    """The photometric conditions share one function, which asks the library by the condition's
    name: the library's 19 corruptions, each once."""
    photometric = [spec for spec in SPECS if spec.kind is StressKind.photometric]
    assert len({spec.apply for spec in photometric}) == 1
    assert sorted(spec.condition.value for spec in photometric) == sorted(get_corruption_names("all"))


def test_what_a_condition_needs_follows_its_kind() -> None:
    for spec in SPECS:
        assert spec.needs_reference_landmarks == (spec.kind is StressKind.placed_by_the_face)
        assert not spec.needs_donors or spec.needs_reference_landmarks
    assert [spec.condition for spec in SPECS if spec.needs_donors] == [StressCondition.distractor]


def test_a_condition_without_a_spec_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not degraded as another condition: no ``Stress`` is made for it at all."""
    monkeypatch.delitem(specs._BY_CONDITION, StressCondition.small_face)
    config = StressConfig(name=StressCondition.small_face, levels=[0.8, 0.6, 0.45, 0.3, 0.2])
    with pytest.raises(LookupError, match=r"stress=small_face has no spec in bench\.stress\.specs"):
        Stress(config)


def test_the_config_layer_imports_nothing_of_bench_stress() -> None:
    """The imports go one way: ``bench.stress`` builds on ``bench.config``, never back."""
    script = "import sys, bench.config\nprint(sorted(m for m in sys.modules if m.startswith('bench.stress')))"
    output = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True)
    assert output.stdout.strip() == "[]"
