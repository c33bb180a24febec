"""MTCNN face detector written in PyTorch (registered as ``"mtcnn"``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench.assets import Asset
from bench.detectors.mtcnn.options import MTCNNOptions
from bench.detectors.registry import Requirements
from bench.registry import Lazy

if TYPE_CHECKING:
    from bench.plugins import PluginRegistry


_URL = "https://github.com/timesler/facenet-pytorch/raw/master/data/{}.pt"

#: facenet-pytorch's converted Caffe weights, one file per net.
WEIGHTS: tuple[Asset, ...] = tuple(
    Asset(f"mtcnn_{net}", f"weights/mtcnn/{net}.pt", sha256=digest, url=_URL.format(net))
    for net, digest in (
        ("pnet", "a2a71925e0b9996a42f63e47efc1ca19043e69558b5c523b978d611dfae49c8f"),
        ("rnet", "bbb937de72efc9ef83b186c49f5f558467a1d7e3453a8ece0d71a886633f6a86"),
        ("onet", "165bfbe42940416ccfb977545cf0e976d5bf321f67083ae2aaaa5c764280118d"),
    )
)


def register(registry: PluginRegistry) -> None:
    for asset in WEIGHTS:
        registry.asset(asset)
    registry.detector(
        "mtcnn",
        Lazy("bench.detectors.mtcnn.detector:MTCNNDetector"),
        MTCNNOptions,
        Requirements(tuple(asset.name for asset in WEIGHTS), ("torch", "torchvision")),
    )


__all__ = ["MTCNNOptions", "register"]
