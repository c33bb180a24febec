"""Degradations of each decoded image before detection (``stress=<condition>``)."""

from bench.stress.degradation import StressError
from bench.stress.distractor import FaceDonors
from bench.stress.stress import Stress, Stressed

__all__ = ["FaceDonors", "Stress", "StressError", "Stressed"]
