"""The benchmark run, its timing, memory and progress."""

from bench.pipeline.face_choice import FaceChooser, NoFaceError
from bench.pipeline.records import AlignedSample, BenchmarkResult, ImageRecord, ImageStatus
from bench.pipeline.runner import BenchmarkRunner

__all__ = [
    "AlignedSample",
    "BenchmarkResult",
    "BenchmarkRunner",
    "FaceChooser",
    "ImageRecord",
    "ImageStatus",
    "NoFaceError",
]
