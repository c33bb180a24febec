"""The benchmark run, its timing, memory and progress."""

from bench.pipeline.records import BenchmarkResult, ImageRecord, ImageStatus
from bench.pipeline.runner import BenchmarkRunner, FailurePolicy

__all__ = ["BenchmarkResult", "BenchmarkRunner", "FailurePolicy", "ImageRecord", "ImageStatus"]
