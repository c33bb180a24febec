"""Cache keys: digests of what decides a result (the config) and of what it is computed from
(the image's bytes), so a renamed or moved file still hits and an edited one misses."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def _image_hash() -> hashlib.blake2b:
    # BLAKE2b is faster than SHA-256 on a CPU; 128 bits is plenty to tell images apart.
    return hashlib.blake2b(digest_size=16)


def canonical_json(config: Mapping[str, Any]) -> str:
    """The config as JSON that equal content always spells alike, whatever the order of its
    mappings; values JSON cannot hold (enums) are written as their ``str``."""
    return json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def config_key(config: Mapping[str, Any]) -> str:
    """SHA-256 of the config's ``canonical_json``: equal content gives an equal key."""
    return hashlib.sha256(canonical_json(config).encode()).hexdigest()


def file_digest(path: Path) -> str:
    """Hex digest of a file's bytes, read in chunks (raises ``OSError`` if it cannot be read)."""
    with Path(path).open("rb") as file:
        return hashlib.file_digest(file, _image_hash).hexdigest()


def bytes_digest(data: bytes) -> str:
    """``file_digest`` of bytes already in memory (the decoder has read the file anyway)."""
    digest = _image_hash()
    digest.update(data)
    return digest.hexdigest()
