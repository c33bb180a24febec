"""Data sets: pair protocols (LFW's pairs.txt, a generic CSV) and image folders."""

from bench.data.csv_pairs import parse_csv_pairs
from bench.data.dataset import Dataset, PairDataset, TemplateDataset, load_dataset
from bench.data.files import missing_files
from bench.data.images import (
    ImageDecodeError,
    decode_image,
    decode_image_bytes,
    image_file,
    image_pixels,
    read_image_bytes,
    unreadable_reason,
)
from bench.data.pairs import Pair, ProtocolError, parse_lfw_pairs, select_pairs

__all__ = [
    "Dataset",
    "ImageDecodeError",
    "Pair",
    "PairDataset",
    "ProtocolError",
    "TemplateDataset",
    "decode_image",
    "decode_image_bytes",
    "image_file",
    "image_pixels",
    "load_dataset",
    "missing_files",
    "parse_csv_pairs",
    "parse_lfw_pairs",
    "read_image_bytes",
    "select_pairs",
    "unreadable_reason",
]
