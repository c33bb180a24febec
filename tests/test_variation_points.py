"""One home for each variation point, and the tests that keep it honest: a new protocol, face
source or method that misses its home fails here instead of falling through somewhere else."""

from __future__ import annotations

import ast
import typing
from pathlib import Path

import pytest

from bench.config import FaceSource
from bench.data import Dataset
from bench.detectors.registry import DETECTORS
from bench.paths import project_root
from bench.pipeline.face_source import _FINDERS
from bench.pipeline.protocols import PROTOCOLS
from bench.tracking.protocol_reports import REPORTS

SRC = project_root() / "src" / "bench"


def string_literals(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }


def compared_strings(path: Path) -> set[str]:
    """The string literals a module compares something with (``==``, ``!=``, ``in``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Compare):
            for operand in (node.left, *node.comparators):
                elements = operand.elts if isinstance(operand, ast.Tuple | ast.List | ast.Set) else [operand]
                found |= {item.value for item in elements if isinstance(item, ast.Constant)}
    return found


def test_every_data_set_kind_has_a_protocol_and_every_protocol_its_report() -> None:
    assert set(PROTOCOLS) == set(typing.get_args(Dataset))
    assert {protocol.name for protocol in PROTOCOLS.values()} == set(REPORTS)


def test_every_face_source_has_its_strategy() -> None:
    assert set(_FINDERS) == set(FaceSource)
    assert {finder.source for finder in _FINDERS.values()} == set(FaceSource)


@pytest.mark.parametrize(
    "module",
    ["pipeline/runner.py", "pipeline/face_source.py", "pipeline/result_cache.py", "pipeline/protocols.py"],
)
def test_the_pipeline_never_branches_on_a_method_name(module: str) -> None:
    # Where faces come from is the registered entry's FaceSource, never a method's name.
    assert not compared_strings(SRC / module) & set(DETECTORS.names())


def test_no_module_but_run_keys_writes_an_mlflow_filter() -> None:
    writers = [
        path.relative_to(SRC)
        for path in SRC.rglob("*.py")
        if path.name != "run_keys.py"
        and any(
            text.startswith(("tags.", "params.")) or "attributes.status =" in text
            for text in string_literals(path)
        )
    ]
    assert writers == []


def test_every_registered_detector_is_a_choice_of_the_detector_group() -> None:
    builtin = {path.stem for path in (project_root() / "conf" / "detector").glob("*.yaml")}
    assert {name for name in DETECTORS.names() if DETECTORS.source(name) == "bench"} == builtin
