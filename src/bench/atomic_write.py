"""A file replaced whole or not at all: written under a temporary name in its folder, flushed to
disk and moved into place with ``os.replace`` (atomic on one file system). A process killed
midway, a full disk or a failing writer leave the file as it was, and no partial file beside it.
The standard library has no such call, and the packages that had one (``atomicwrites``) are
unmaintained."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def write_atomically(target: Path, write: Callable[[Path], None]) -> Path:
    """``write(temporary)`` writes the file's content; it then becomes ``target``. A ``target`` that
    is a link is replaced by the file, never written through."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}.", suffix=".tmp")
    os.close(handle)
    temporary = Path(name)
    try:
        write(temporary)
        with temporary.open("rb") as written:
            os.fsync(written.fileno())  # on disk before the rename, so a crash cannot leave it empty
        temporary.chmod(0o644)  # mkstemp's 0600 would keep the file private to one user
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return target
