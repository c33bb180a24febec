"""What a recognition family's network is fed: a light module, since every family registers one
(``ModelFamily.input``) at start-up, before anything imports torch."""

from __future__ import annotations

from dataclasses import dataclass

from bench.models.edgeface_variants import INPUT_SIZE


@dataclass(frozen=True)
class InputSpec:
    """What a family's network is fed: ``size`` x ``size`` faces in ``channels`` order, scaled as
    ``(x - mean) / std``, computed as ``x / std - mean / std`` (EdgeFace's exact operations)."""

    size: int = INPUT_SIZE
    channels: str = "RGB"
    mean: float = 127.5
    std: float = 127.5

    def __post_init__(self) -> None:
        if self.channels not in ("RGB", "BGR"):
            raise ValueError(f"InputSpec.channels must be RGB or BGR, not {self.channels!r}")

    @property
    def face_shape(self) -> tuple[int, int, int]:
        return (self.size, self.size, 3)
