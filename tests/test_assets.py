"""The asset resolver: explicit path, local roots with checksums, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.assets import ASSETS, Asset, AssetChecksumError, AssetNotFoundError, resolve, search_roots
from bench.paths import project_root


def test_finds_the_shared_assets_beside_the_checkout() -> None:
    path = resolve("yunet")
    assert path == (project_root().parent / "shared" / "assets" / ASSETS["yunet"].relpath).resolve()


def test_finds_data_folders() -> None:
    assert (resolve("lfw_deepfunneled") / "Aaron_Peirsol" / "Aaron_Peirsol_0001.jpg").is_file()
    assert resolve("lfw_pairs").name == "pairs.txt"


def test_environment_root_comes_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / ASSETS["lfw_pairs"].relpath
    copy.parent.mkdir(parents=True)
    copy.write_bytes(resolve("lfw_pairs").read_bytes())
    monkeypatch.setenv("BENCH_ASSETS", str(tmp_path))
    assert search_roots()[0] == tmp_path
    assert resolve("lfw_pairs") == copy.resolve()


def test_checksum_mismatch_is_refused_with_both_hashes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / ASSETS["yunet"].relpath
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not the model")
    monkeypatch.setenv("BENCH_ASSETS", str(tmp_path))
    with pytest.raises(AssetChecksumError) as raised:
        resolve("yunet")
    message = str(raised.value)
    assert str(bad) in message and ASSETS["yunet"].sha256 in message


def test_explicit_path_wins_and_must_exist(tmp_path: Path) -> None:
    mine = tmp_path / "my_yunet.onnx"
    mine.write_bytes(b"user file")
    assert resolve("yunet", mine) == mine.resolve()
    with pytest.raises(AssetNotFoundError, match=r"does_not_exist\.onnx"):
        resolve("yunet", tmp_path / "does_not_exist.onnx")


def test_missing_asset_names_the_file_the_places_and_the_url() -> None:
    with pytest.raises(AssetNotFoundError) as raised:
        resolve("edgeface_base")
    message = str(raised.value)
    assert "weights/edgeface/edgeface_base.pt" in message
    for root in search_roots():
        assert str(root) in message
    assert "https://github.com/otroshi/edgeface" in message
    assert "BENCH_OFFLINE" in message


def test_unknown_asset_name() -> None:
    with pytest.raises(KeyError, match="unknown asset"):
        resolve("no_such_asset")


def test_a_package_asset_is_found_inside_its_installed_package_without_importing_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Weights a registry package ships (dlib's models, SFace's graph) are looked for inside it;
    missing, the error names the file, where it looked and how to install the package."""
    package = tmp_path / "weights_pkg"
    (package / "models").mkdir(parents=True)
    (package / "__init__.py").write_text("raise ImportError('importing it is not needed')\n")
    asset = Asset("test_packaged", "models/net.dat", note="pip install weights-pkg", package="weights_pkg")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(AssetNotFoundError) as missing:
        resolve(asset)
    assert str(package / "models" / "net.dat") in str(missing.value)
    assert "pip install weights-pkg" in str(missing.value)
    (package / "models" / "net.dat").write_bytes(b"weights")
    assert resolve(asset) == (package / "models" / "net.dat").resolve()
    absent = Asset(
        "test_packaged_absent", "models/net.dat", note="pip install nothing-here", package="no_such_pkg"
    )
    with pytest.raises(AssetNotFoundError, match=r"(?s)nowhere.*not installed.*pip install nothing-here"):
        resolve(absent)
