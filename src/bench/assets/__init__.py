"""Data and weights, found by name (see ``resolver.resolve``)."""

from bench.assets.catalog import ASSETS, Asset, register_asset
from bench.assets.resolver import (
    AssetChecksumError,
    AssetError,
    AssetNotFoundError,
    resolve,
    search_roots,
)

__all__ = [
    "ASSETS",
    "Asset",
    "AssetChecksumError",
    "AssetError",
    "AssetNotFoundError",
    "register_asset",
    "resolve",
    "search_roots",
]
