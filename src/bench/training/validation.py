"""Verification accuracy of the backbone being trained, on LFW's reference-aligned faces or any
insightface ``.bin`` set, with the benchmark's 10-fold protocol and preprocessing."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bench.config import BinDatasetConfig, LfwDatasetConfig
from bench.data import PairDataset, decode_image, load_dataset
from bench.metrics import evaluate_verification, pair_scores

#: Faces embedded per forward while validating.
BATCH = 256


@dataclass(frozen=True)
class ValidationSet:
    name: str
    #: ``(N, 112, 112, 3)`` uint8 RGB, every image of the pairs once.
    faces: np.ndarray
    index_a: np.ndarray
    index_b: np.ndarray
    labels: np.ndarray
    folds: np.ndarray


def load_validation_set(spec: str, pairs_per_fold: int | None = None) -> ValidationSet:
    """``lfw_aligned`` (LFW View 2 on the reference faces) or the path of a ``.bin``; decoded once."""
    if spec == "lfw_aligned":
        config = LfwDatasetConfig(
            name=spec,
            images="lfw_aligned_112",
            pairs="lfw_pairs",
            aligned=True,
            pairs_per_fold=pairs_per_fold,
        )
        dataset = load_dataset(config)
    elif spec.endswith(".bin"):
        dataset = load_dataset(
            BinDatasetConfig(name=Path(spec).stem, path=spec, pairs_per_fold=pairs_per_fold)
        )
    else:
        raise ValueError(f"validation set {spec!r}: expected lfw_aligned or the path of an insightface .bin")
    return _decoded(dataset)


def _decoded(dataset: PairDataset) -> ValidationSet:
    images = dataset.images
    position = {path: index for index, path in enumerate(images)}
    faces = np.stack(
        [decode_image(dataset.image_root / path, dataset.image_root, 50_000_000) for path in images]
    )
    return ValidationSet(
        dataset.name,
        faces,
        np.array([position[pair.image_a] for pair in dataset.pairs]),
        np.array([position[pair.image_b] for pair in dataset.pairs]),
        dataset.labels,
        dataset.folds,
    )


@torch.inference_mode()
def validate(backbone: nn.Module, data: ValidationSet, device: torch.device) -> float:
    """The 10-fold accuracy of ``backbone`` on ``data`` (left in eval mode; the caller restores)."""
    backbone.eval()
    embeddings = []
    for start in range(0, len(data.faces), BATCH):
        faces = torch.from_numpy(data.faces[start : start + BATCH]).to(device)
        x = faces.permute(0, 3, 1, 2).float().div(127.5).sub(1.0)
        embeddings.append(F.normalize(backbone(x).float(), dim=1).cpu().numpy())
    scores = pair_scores(np.concatenate(embeddings), data.index_a, data.index_b)
    return evaluate_verification(scores, data.labels, data.folds).accuracy
