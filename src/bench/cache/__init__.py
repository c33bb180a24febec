"""A content-addressed on-disk cache of per-image detections and embeddings.

Entries are keyed by the digest of an image's bytes and of the config that produced them, so a
sweep over models reuses detections, a re-run is fast and a killed run resumes.
"""

from bench.cache.keys import bytes_digest, canonical_json, config_key, file_digest
from bench.cache.store import CachedDetection, CacheUnavailableError, FeatureCache

__all__ = [
    "CacheUnavailableError",
    "CachedDetection",
    "FeatureCache",
    "bytes_digest",
    "canonical_json",
    "config_key",
    "file_digest",
]
