"""The vocabulary every detector's options share, and their common checks.

``score_threshold`` (the lowest face score kept), ``nms_threshold`` (the IoU above which the
weaker of two boxes is suppressed), ``input_size`` (the side, in pixels, the network sees) and
``path`` (an explicit weights file; ``None`` asks the asset resolver). Each method's options
dataclass lives beside its code; defaults live there and nowhere else (its YAML repeats them for
the reader, and a test checks that the two agree).
"""

from __future__ import annotations

from bench.config.validate import require


def option_key(key: str) -> str:
    """The option's full config key, as errors name it."""
    return f"detector.options.{key}"


def check_unit(key: str, value: float) -> None:
    require(0.0 <= value <= 1.0, option_key(key), "must lie in [0, 1]", value)


def check_thresholds(options: object) -> None:
    """Scores are probabilities and IoUs fractions: a threshold outside [0, 1] keeps every face
    or none, silently."""
    for key in ("score_threshold", "nms_threshold"):
        check_unit(key, getattr(options, key))
