"""Files made from an asset (a patched graph, an exported model), made once into the asset cache.

A derived file is a pure function of its source's content and of its recipe (the transform's
revision and parameters, the versions of the tools it uses), so a hash of those names it: a
changed input gives a new file, never a stale one. It is written under a temporary name in its
folder, flushed to disk and moved into place with ``os.replace`` (atomic on one file system), so
a process making it concurrently, or one killed midway, never leaves a partial file under the
final name. A file found there that is empty or fails the caller's ``check`` (damaged on disk)
is made again rather than served.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from pathlib import Path

from bench.assets.resolver import cache_root, sha256_of
from bench.atomic_write import write_atomically

log = logging.getLogger(__name__)

#: Writes the derived file of a source: ``transform(source, destination)``.
Transform = Callable[[Path, Path], None]
#: Whether a derived file is intact.
Check = Callable[[Path], bool]


class DerivedFileError(RuntimeError):
    """A transform produced a file that fails its check."""


def derived_dir() -> Path:
    """Where derived files live unless a caller names a folder: ``derived/`` in the asset cache."""
    return cache_root() / "derived"


def derived_path(source: Path, *, recipe: str, folder: Path | None = None, suffix: str | None = None) -> Path:
    """The cache file for ``source`` made by ``recipe``: ``<stem>-<hash><suffix>`` (default: the
    source's suffix) in ``folder`` (default: ``derived_dir()``)."""
    digest = hashlib.sha256(f"{sha256_of(source)}\n{recipe}".encode()).hexdigest()[:12]
    name = f"{source.stem}-{digest}{source.suffix if suffix is None else suffix}"
    return (derived_dir() if folder is None else folder) / name


def derived_file(
    source: Path,
    transform: Transform,
    *,
    recipe: str,
    folder: Path | None = None,
    suffix: str | None = None,
    check: Check | None = None,
) -> Path:
    """The derived file of ``source`` for ``recipe`` (see ``derived_path``), made by ``transform``
    on first use or when the cached one is damaged; the caller must change ``recipe`` whenever
    ``transform`` would write something else."""
    target = derived_path(source, recipe=recipe, folder=folder, suffix=suffix)
    if target.is_file():
        if _intact(target, check):
            return target
        log.warning("%s is damaged; making it again from %s", target, source)
    _make(source, transform, target, check)
    return target


def is_onnx_model(path: Path) -> bool:
    """Whether ``path`` parses as an ONNX model: a ``check`` for derived graphs."""
    import onnx  # only the ONNX backends need it
    from google.protobuf.message import DecodeError

    try:
        onnx.load(str(path), load_external_data=False)
    except DecodeError:
        return False
    return True


def _intact(path: Path, check: Check | None) -> bool:
    return path.stat().st_size > 0 and (check is None or check(path))


def _make(source: Path, transform: Transform, target: Path, check: Check | None) -> None:
    def write(temporary: Path) -> None:
        transform(source, temporary)
        if not _intact(temporary, check):
            raise DerivedFileError(f"making {target.name} from {source} gave a file that fails its check")

    write_atomically(target, write)
