"""libjpeg's warning about one JPEG, as a value instead of a line on stderr.

libjpeg decodes on past damage and warns ("Corrupt JPEG data: premature end of data segment");
inside OpenCV that warning is an ``fprintf`` to the process's stderr, which reaches no log, names
no file, and with images decoded on several threads belongs to no one in particular. libjpeg-turbo's
TurboJPEG API hands warnings to its caller instead, and simplejpeg (which bundles it) raises the
first one with ``strict=True``. Every warning comes from reading the markers and the entropy-coded
data, which a decode scaled to 1/8 does in full, for about half the time of OpenCV's own decode.
"""

from __future__ import annotations

import re

import simplejpeg

#: Warnings after which every pixel is still the file's own: bytes between two markers, a broken
#: ICC profile (never applied here), a JFIF version newer than libjpeg knows. Any other warning
#: means libjpeg made pixels up (grey where data ends, garbage after a bad code) or may have.
_PIXELS_INTACT = re.compile(
    r"Corrupt JPEG data: \d+ extraneous bytes before marker 0x[0-9a-f]{2}"
    r"|Corrupt JPEG data: bad ICC marker"
    r"|Warning: unknown JFIF revision number \d+\.\d+"
)


def jpeg_warning(data: bytes) -> str | None:
    """libjpeg's first warning or error on the JPEG ``data``, or ``None`` when it has none."""
    try:
        simplejpeg.decode_jpeg(data, min_height=1, min_width=1, strict=True)  # the smallest scale
    except ValueError as warning:
        return str(warning)
    return None


def leaves_pixels_intact(warning: str) -> bool:
    """Whether the image decoded past ``warning`` is still the file's picture. Only the first
    warning is known: a harmless one before a harmful one hides it."""
    return _PIXELS_INTACT.fullmatch(warning) is not None
