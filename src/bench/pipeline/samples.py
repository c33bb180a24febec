"""The aligned faces shown in a run's sample grid."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from bench.alignment import Template, align_face
from bench.cache import bytes_digest
from bench.data import ImageDecodeError, decode_image_bytes, read_image_bytes
from bench.pipeline.records import AlignedSample, ImageRecord
from bench.stress import Stress, StressError

log = logging.getLogger(__name__)


def sample_faces(
    records: Sequence[ImageRecord],
    image_root: Path,
    limit: int,
    passthrough: bool,
    max_pixels: int,
    stress: Stress,
    template: Template,
    size: int,
) -> list[AlignedSample]:
    """The first ``limit / 2`` aligned faces (the same images in every run on a data set, so a
    sweep can show one image aligned by each method), then fallbacks until the grid is full, so
    failures show. Re-aligned here from their records (degraded again where they were), as
    cached images were never decoded. Aligned as the model was fed: ``template`` at ``size``."""
    embedded = [record for record in records if record.embedded]
    chosen = embedded[: limit // 2]
    chosen += [record for record in embedded[limit // 2 :] if record.fallback][: limit - len(chosen)]
    samples = []
    for record in chosen:
        try:
            data = read_image_bytes(image_root / record.path, image_root)
            image = decode_image_bytes(data, image_root / record.path, max_pixels)
            if record.stressed:
                clean = bytes_digest(data)
                image = stress.apply(image, clean, stress.draw_donor(clean, record.path)).image
        except (ImageDecodeError, StressError) as error:
            log.warning("sample face not shown: %s", error)
            continue
        assert record.face is not None
        face = image if passthrough else align_face(image, record.face, size, template)
        samples.append(AlignedSample(record.path, face, record.fallback))
    return samples
