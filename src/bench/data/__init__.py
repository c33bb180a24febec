"""Data sets: pair protocols and image folders."""

from bench.data.dataset import PairDataset, load_dataset
from bench.data.images import ImageDecodeError, decode_image
from bench.data.pairs import Pair, ProtocolError, parse_lfw_pairs, select_pairs

__all__ = [
    "ImageDecodeError",
    "Pair",
    "PairDataset",
    "ProtocolError",
    "decode_image",
    "load_dataset",
    "parse_lfw_pairs",
    "select_pairs",
]
