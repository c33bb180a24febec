"""The benchmark run, its timing, memory and progress."""

from bench.detectors import NoFaceError
from bench.pipeline.face_choice import FaceChooser
from bench.pipeline.records import AlignedSample, BenchmarkResult, ImageRecord, ImageStatus, ShardResult
from bench.pipeline.runner import BenchmarkRunner

__all__ = [
    "AlignedSample",
    "BenchmarkResult",
    "BenchmarkRunner",
    "FaceChooser",
    "ImageRecord",
    "ImageStatus",
    "NoFaceError",
    "ShardResult",
]
