"""Degradations of each decoded image before detection (``stress=<condition>``)."""

from bench.stress.distractor import FaceDonors
from bench.stress.stress import Stress, Stressed, StressError

__all__ = ["FaceDonors", "Stress", "StressError", "Stressed"]
