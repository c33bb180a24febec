"""Reading images into RGB arrays, with errors that name the file and the reason."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


class ImageDecodeError(ValueError):
    """A file that is missing or is not a readable image."""


def decode_image(path: Path) -> np.ndarray:
    """An ``HxWx3`` ``uint8`` RGB array. Greyscale is expanded to three channels."""
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as error:
        raise ImageDecodeError(f"{path}: cannot read: {error.strerror or error}") from None
    if data.size == 0:
        raise ImageDecodeError(f"{path}: empty file")
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if image is None:
        raise ImageDecodeError(f"{path}: not a decodable image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
