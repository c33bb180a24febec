"""Find a data set or weight file by name: explicit path, local roots, then upstream URL."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from functools import lru_cache
from pathlib import Path

from bench.assets.catalog import ASSETS, Asset
from bench.paths import project_root

ASSETS_ENV = "BENCH_ASSETS"
OFFLINE_ENV = "BENCH_OFFLINE"


class AssetError(RuntimeError):
    """An asset is missing or fails its checksum."""


class AssetNotFoundError(AssetError, FileNotFoundError):
    pass


class AssetChecksumError(AssetError):
    pass


def search_roots() -> list[Path]:
    """Local roots in search order: ``$BENCH_ASSETS`` (os.pathsep-separated), the shared
    assets beside the checkout, then the project's ``checkpoints/`` cache."""
    root = project_root()
    env_roots = [Path(p) for p in os.environ.get(ASSETS_ENV, "").split(os.pathsep) if p]
    return [*env_roots, root.parent / "shared" / "assets", cache_root()]


def cache_root() -> Path:
    return project_root() / "checkpoints"


def sha256_of(path: Path) -> str:
    return _sha256_cached(str(path), path.stat().st_mtime_ns, path.stat().st_size)


@lru_cache(maxsize=256)
def _sha256_cached(path: str, _mtime_ns: int, _size: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verify(asset: Asset, path: Path) -> Path:
    if asset.sha256 and not asset.is_dir:
        actual = sha256_of(path)
        if actual != asset.sha256:
            raise AssetChecksumError(
                f"{asset.name}: {path} has sha256 {actual}, expected {asset.sha256}; "
                "the file is corrupt or a different version: replace it, or pass its path "
                "explicitly in the config to use it as it is"
            )
    return path


def resolve(
    name: str | Asset, explicit: str | os.PathLike[str] | None = None, *, download: bool = True
) -> Path:
    """Return a local path for asset ``name`` (a registered name, or the ``Asset`` itself).

    An explicit path wins and is used as given (no checksum: the user chose that file). Then
    each local root is searched; a file found there must match its known sha256. Last, the
    upstream URL is fetched into ``checkpoints/`` unless ``download`` is false or
    ``$BENCH_OFFLINE`` is set. Failure raises one error naming the file, every place searched
    and the URL.
    """
    if isinstance(name, Asset):
        asset = name
    else:
        try:
            asset = ASSETS[name]
        except KeyError:
            raise KeyError(f"unknown asset {name!r}; known: {', '.join(sorted(ASSETS))}") from None

    if explicit is not None:
        path = Path(explicit).expanduser()
        if not path.exists():
            raise AssetNotFoundError(f"{asset.name}: the configured path {path} does not exist")
        return path.resolve()

    searched = _places(asset)
    for candidate in searched:
        if candidate.exists():
            return _verify(asset, candidate.resolve())

    problem = "no download URL is known"
    if asset.package:
        problem = f"it ships in the Python package {asset.package!r}, which is not installed here"
        if searched:
            problem = f"the installed package {asset.package!r} lacks it"
    if asset.url and download and not os.environ.get(OFFLINE_ENV):
        try:
            return _verify(asset, _download(asset))
        except (urllib.error.URLError, OSError, tarfile.TarError, zipfile.BadZipFile) as error:
            problem = f"downloading {asset.url} failed: {error}"
    elif asset.url:
        problem = "downloads are off (BENCH_OFFLINE is set or download=False)"

    lines = [f"asset {asset.name!r} ({asset.relpath}) was not found. Searched:"]
    lines += [f"  - {path}" for path in searched] or ["  - nowhere"]
    lines.append(f"Upstream: {asset.url or 'none'} ({problem}).")
    if asset.note:
        lines.append(f"To obtain it: {asset.note}.")
    if asset.package:
        lines.append(f"Install {asset.package!r} as above, or give the file's path in the config.")
    else:
        lines.append(
            f"Put it at one of the places above, set {ASSETS_ENV} to a folder holding "
            f"{asset.relpath}, or give its path in the config."
        )
    raise AssetNotFoundError("\n".join(lines))


def _places(asset: Asset) -> list[Path]:
    """Where ``asset`` may be: inside its installed package (located with ``find_spec``, which
    imports nothing: dlib's models package needs the removed ``pkg_resources`` to import), or
    below every asset root."""
    if asset.package is None:
        return [root / asset.relpath for root in search_roots()]
    spec = importlib.util.find_spec(asset.package)
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    return [Path(folder) / asset.relpath for folder in folders]


def _download(asset: Asset) -> Path:
    """Fetch ``asset.url`` into the cache: a file as is, an archive unpacked (see
    ``_take_from_zip`` for zips). The partial download is removed whatever fails."""
    assert asset.url is not None
    target = cache_root() / asset.relpath
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".download-") as scratch:
        partial = Path(scratch) / "download.part"
        with urllib.request.urlopen(asset.url, timeout=60) as response, partial.open("wb") as handle:
            shutil.copyfileobj(response, handle)
        if asset.url.endswith((".tgz", ".tar.gz", ".tar")):
            with tarfile.open(partial) as archive:
                archive.extractall(target.parent, filter="data")
            if not target.exists():
                raise AssetNotFoundError(f"{asset.url} unpacked, but holds no {asset.relpath}")
        elif asset.url.endswith(".zip"):
            unpacked = Path(scratch) / "unpacked"
            with zipfile.ZipFile(partial) as archive:
                archive.extractall(unpacked)
            _take_from_zip(unpacked, target, asset.url)
        else:
            partial.replace(target)
    return target


def _take_from_zip(unpacked: Path, target: Path, url: str) -> None:
    """Move the asset out of an unpacked zip: ``target``'s name at the zip's top level, else the
    zip's only file of ``target``'s type (OpenMMLab's ONNX SDK zips hold ``<dirs>/end2end.onnx``)."""
    top = unpacked / target.name
    found = [top] if top.exists() else [p for p in unpacked.rglob(f"*{target.suffix}") if p.is_file()]
    if len(found) != 1:
        raise AssetNotFoundError(f"{url} unpacked, but holds no {target.name} nor one {target.suffix} file")
    found[0].replace(target)
