"""The shared aligner: every method's landmarks go to the same 112x112 ArcFace template."""

from bench.alignment.batch import BatchAligner, warp_affine_torch
from bench.alignment.template import ALIGNED_SIZE, ARCFACE_TEMPLATE, template_points
from bench.alignment.warp import align_face, box_to_square, face_transform, similarity_to_template

__all__ = [
    "ALIGNED_SIZE",
    "ARCFACE_TEMPLATE",
    "BatchAligner",
    "align_face",
    "box_to_square",
    "face_transform",
    "similarity_to_template",
    "template_points",
    "warp_affine_torch",
]
