"""Data sets: pair protocols (LFW's pairs.txt, a generic CSV) and image folders."""

from bench.data.csv_pairs import parse_csv_pairs
from bench.data.dataset import PairDataset, load_dataset
from bench.data.files import OnMissing, missing_files
from bench.data.images import ImageDecodeError, decode_image, unreadable_reason
from bench.data.pairs import Pair, ProtocolError, parse_lfw_pairs, select_pairs

__all__ = [
    "ImageDecodeError",
    "OnMissing",
    "Pair",
    "PairDataset",
    "ProtocolError",
    "decode_image",
    "load_dataset",
    "missing_files",
    "parse_csv_pairs",
    "parse_lfw_pairs",
    "select_pairs",
    "unreadable_reason",
]
