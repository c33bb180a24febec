"""Degradations of each decoded image before detection (``stress=<condition>``)."""

from bench.stress.stress import Stress, Stressed, StressError

__all__ = ["Stress", "StressError", "Stressed"]
