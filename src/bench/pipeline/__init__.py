"""The benchmark run, its timing, memory and progress."""

from bench.pipeline.records import AlignedSample, BenchmarkResult, ImageRecord, ImageStatus
from bench.pipeline.runner import BenchmarkRunner, FailurePolicy

__all__ = [
    "AlignedSample",
    "BenchmarkResult",
    "BenchmarkRunner",
    "FailurePolicy",
    "ImageRecord",
    "ImageStatus",
]
