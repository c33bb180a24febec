"""bench: how much face detection and alignment matter to face recognition."""

__version__ = "0.1.0"
