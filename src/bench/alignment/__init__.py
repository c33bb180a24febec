"""The shared aligner: every method's landmarks go to the model's template (``arcface_112`` by
default; ``bench.alignment.template`` holds the registry).

The templates are light (numpy), as every family names its own at start-up; the warps (OpenCV,
torch) are imported when first named.
"""

from typing import TYPE_CHECKING

from bench.alignment.template import (
    ALIGNED_SIZE,
    ARCFACE_112,
    ARCFACE_TEMPLATE,
    DLIB_CHIP_150,
    TEMPLATES,
    Template,
    register_template,
    template_from_points,
    template_named,
    template_points,
)
from bench.registry import lazy_attributes

if TYPE_CHECKING:
    from bench.alignment.batch import BatchAligner, warp_affine_torch
    from bench.alignment.warp import align_face, box_to_square, face_transform, similarity_to_template

__getattr__ = lazy_attributes(
    __name__,
    {
        "BatchAligner": "bench.alignment.batch:BatchAligner",
        "warp_affine_torch": "bench.alignment.batch:warp_affine_torch",
        **{
            name: f"bench.alignment.warp:{name}"
            for name in ("align_face", "box_to_square", "face_transform", "similarity_to_template")
        },
    },
)

__all__ = [
    "ALIGNED_SIZE",
    "ARCFACE_112",
    "ARCFACE_TEMPLATE",
    "DLIB_CHIP_150",
    "TEMPLATES",
    "BatchAligner",
    "Template",
    "align_face",
    "box_to_square",
    "face_transform",
    "register_template",
    "similarity_to_template",
    "template_from_points",
    "template_named",
    "template_points",
    "warp_affine_torch",
]
