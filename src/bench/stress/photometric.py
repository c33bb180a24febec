"""The ImageNet-C corruptions, from the maintained ``imagecorruptions`` fork (imagecorruptions-imaug).

Chosen over the original ``imagecorruptions`` 1.1.2, which no longer imports (it needs
``pkg_resources``, gone from current setuptools), albumentations (no frost, spatter or zoom blur
as ImageNet-C defines them, and it pulls a third OpenCV build) and kornia (a different set of
augmentations, not ImageNet-C's): the fork runs all 19 corruptions on numpy 2 and scikit-image
0.26. It draws from NumPy's global random state, so each call seeds it under a lock; the two
corruptions that take their own generator (impulse noise, glass blur) get the same seed.
"""

from __future__ import annotations

import threading
from importlib.metadata import version

import numpy as np

from bench.stress.degradation import StressError

#: The library's global random state is shared by every thread: one corruption at a time.
_GLOBAL_RANDOM_STATE = threading.Lock()
_TAKE_A_SEED = frozenset({"impulse_noise", "glass_blur"})
#: The library refuses smaller images.
MIN_SIDE = 32
LIBRARY = "imagecorruptions-imaug"


def library_version() -> str:
    return f"{LIBRARY} {version(LIBRARY)}"


def corrupt(image: np.ndarray, name: str, severity: int, seed: int) -> np.ndarray:
    """``image`` (HxWx3 uint8 RGB) under corruption ``name`` at ``severity``, drawn from ``seed``."""
    if min(image.shape[:2]) < MIN_SIDE:
        raise StressError(
            f"stress={name} needs an image of at least {MIN_SIDE} px a side, "
            f"got {image.shape[1]}x{image.shape[0]}"
        )
    from imagecorruptions import corrupt as library_corrupt  # imports numba: only when used

    options = {"seed": seed} if name in _TAKE_A_SEED else {}
    with _GLOBAL_RANDOM_STATE:
        np.random.seed(seed)
        return library_corrupt(image, severity=severity, corruption_name=name, **options)
