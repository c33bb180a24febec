"""Derived files: made once per (source content, recipe), atomically, and remade when damaged."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from bench.assets import derived
from bench.assets.derived import DerivedFileError, derived_file, is_onnx_model


class Upper:
    """A transform that upper-cases its source and counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, source: Path, destination: Path) -> None:
        self.calls += 1
        destination.write_bytes(source.read_bytes().upper())


@pytest.fixture()
def source(tmp_path: Path) -> Path:
    path = tmp_path / "weights.bin"
    path.write_bytes(b"some weights")
    return path


@pytest.fixture()
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The asset cache, moved to a temporary folder."""
    monkeypatch.setattr(derived, "cache_root", lambda: tmp_path / "checkpoints")
    return tmp_path / "checkpoints" / "derived"


def test_made_once(source: Path, cache: Path) -> None:
    upper = Upper()
    first = derived_file(source, upper, recipe="upper 1")
    assert first.parent == cache and first.name.startswith("weights-") and first.suffix == ".bin"
    assert first.read_bytes() == b"SOME WEIGHTS" and upper.calls == 1
    assert first.stat().st_mode & 0o777 == 0o644  # readable by other users of a shared cache
    assert derived_file(source, upper, recipe="upper 1") == first
    assert upper.calls == 1
    assert list(cache.iterdir()) == [first]  # no temporary file left


def test_a_new_source_or_recipe_gives_a_new_file(source: Path, cache: Path) -> None:
    upper = Upper()
    first = derived_file(source, upper, recipe="upper 1")
    other_recipe = derived_file(source, upper, recipe="upper 2", suffix=".txt")
    assert other_recipe not in (first, first.with_suffix(".txt")) and other_recipe.suffix == ".txt"
    source.write_bytes(b"other weights, and more of them")
    changed = derived_file(source, upper, recipe="upper 1")
    assert changed != first and changed.read_bytes() == b"OTHER WEIGHTS, AND MORE OF THEM"
    assert first.read_bytes() == b"SOME WEIGHTS" and upper.calls == 3


def test_the_final_name_appears_only_when_complete(source: Path, tmp_path: Path) -> None:
    folder = tmp_path / "graphs"
    written: list[Path] = []

    def spy(source: Path, destination: Path) -> None:
        assert list(folder.iterdir()) == [destination], "only the temporary file exists while writing"
        written.append(destination)
        destination.write_bytes(b"complete")

    final = derived_file(source, spy, recipe="spy", folder=folder)
    assert written[0].parent == final.parent and written[0] != final
    assert list(folder.iterdir()) == [final] and final.read_bytes() == b"complete"


def test_a_failed_transform_leaves_nothing(source: Path, cache: Path) -> None:
    def broken(source: Path, destination: Path) -> None:
        destination.write_bytes(b"half a file")
        raise RuntimeError("transform failed")

    with pytest.raises(RuntimeError, match="transform failed"):
        derived_file(source, broken, recipe="broken")
    assert list(cache.iterdir()) == []


def test_a_killed_process_leaves_no_file_under_the_final_name(source: Path, cache: Path) -> None:
    script = f"""
import os, signal
from pathlib import Path
from bench.assets import derived

def killed(source, destination):
    destination.write_bytes(b"half a file")
    os.kill(os.getpid(), signal.SIGKILL)

derived.cache_root = lambda: Path({str(cache.parent)!r})
derived.derived_file(Path({str(source)!r}), killed, recipe="upper 1")
"""
    process = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert process.returncode < 0, process.stderr  # died by the signal
    assert [path.suffix for path in cache.iterdir()] == [".tmp"]  # the partial file, not the final name

    upper = Upper()
    final = derived_file(source, upper, recipe="upper 1")
    assert upper.calls == 1 and final.read_bytes() == b"SOME WEIGHTS"


def test_concurrent_makers_each_get_a_complete_file(source: Path, cache: Path) -> None:
    both_writing = threading.Barrier(2, timeout=10)

    def slow(source: Path, destination: Path) -> None:
        destination.write_bytes(b"first half, ")
        both_writing.wait()
        with destination.open("ab") as handle:
            handle.write(b"second half")

    results: list[Path] = []
    threads = [
        threading.Thread(target=lambda: results.append(derived_file(source, slow, recipe="slow")))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 2 and results[0] == results[1]
    assert results[0].read_bytes() == b"first half, second half"
    assert list(cache.iterdir()) == [results[0]]


def test_a_damaged_file_is_made_again(source: Path, cache: Path, caplog: pytest.LogCaptureFixture) -> None:
    upper = Upper()

    def intact(path: Path) -> bool:
        return path.read_bytes().isupper()

    final = derived_file(source, upper, recipe="upper 1", check=intact)
    final.write_bytes(b"damaged")
    assert derived_file(source, upper, recipe="upper 1", check=intact) == final
    assert final.read_bytes() == b"SOME WEIGHTS" and upper.calls == 2
    assert "damaged" in caplog.text

    final.write_bytes(b"")  # empty: damaged whatever the check
    assert derived_file(source, upper, recipe="upper 1").read_bytes() == b"SOME WEIGHTS"
    assert upper.calls == 3


def test_a_transform_whose_output_fails_the_check_is_an_error(source: Path, cache: Path) -> None:
    with pytest.raises(DerivedFileError, match="fails its check"):
        derived_file(source, Upper(), recipe="upper 1", check=lambda path: False)
    assert list(cache.iterdir()) == []


def test_is_onnx_model(tmp_path: Path) -> None:
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "relu",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    model = tmp_path / "relu.onnx"
    onnx.save(helper.make_model(graph), str(model))
    assert is_onnx_model(model)
    model.write_bytes(model.read_bytes()[:-7])
    assert not is_onnx_model(model)
    model.write_bytes(b"half a graph")
    assert not is_onnx_model(model)
