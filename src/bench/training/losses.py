"""Margin-based logits for face-recognition training: ArcFace, CosFace and their combination.

A margin softmax scores each embedding against every class centre by cosine similarity and
handicaps the sample's own class by a margin before the softmax, so a sample is only classified
well once it beats every other class by that margin: this is what makes the embeddings separate
identities in the open set. The modules here return logits; the cross-entropy is the caller's
(``bench.training.partial_fc`` computes it across the shards of the class centres).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class CombinedMarginLoss(nn.Module):
    """insightface's combined margin: ``s * (cos(m1 * theta + m2) - m3)`` for each sample's own
    class, ``s * cos(theta)`` for the others.

    ``m1`` is SphereFace's multiplicative angular margin, ``m2`` ArcFace's additive angular margin
    and ``m3`` CosFace's additive cosine margin. ``labels[i]`` is the column of sample ``i``'s
    class in ``cosine``, or -1 when that class is not among the columns (it lives on another
    rank's shard of the centres): such a row gets no margin.

    Past ``m1 * theta + m2 = pi`` the cosine would rise again and reward a worse angle, so there
    the angular margin is replaced by a fixed cosine margin, as insightface's ArcFace does
    (``cos(theta) - m2 * sin(m2)``); ``easy_margin`` instead applies the angular margin only where
    ``cos(theta) > 0``. ``interclass_filtering_threshold`` > 0 sets the other classes' cosines
    above it to 0, insightface's guard against one identity labelled as two in noisy data.
    """

    def __init__(
        self,
        s: float,
        m1: float,
        m2: float,
        m3: float,
        interclass_filtering_threshold: float = 0.0,
        *,
        easy_margin: bool = False,
    ) -> None:
        super().__init__()
        if s <= 0 or m1 <= 0 or not 0 <= m2 < math.pi:
            raise ValueError(f"need s > 0, m1 > 0 and 0 <= m2 < pi, got s={s}, m1={m1}, m2={m2}")
        self.s = s
        self.m1 = m1
        self.m2 = m2
        self.m3 = m3
        self.interclass_filtering_threshold = interclass_filtering_threshold
        self.easy_margin = easy_margin
        # The angle past which m1 * theta + m2 exceeds pi, and the cosine margin used there: the
        # first-order effect of the angular margin (m1 - 1) * theta + m2 at that angle, which is
        # insightface's m2 * sin(m2) for m1 = 1.
        self._theta_limit = (math.pi - m2) / m1
        self._fallback_margin = (math.pi - self._theta_limit) * math.sin(self._theta_limit)

    def forward(self, cosine: Tensor, labels: Tensor) -> Tensor:
        """Scaled logits from ``cosine`` (N, C) in [-1, 1] and ``labels`` (N,) in [0, C) or -1."""
        rows = torch.nonzero(labels.reshape(-1) != -1).squeeze(1)
        cols = labels.reshape(-1)[rows]
        if self.interclass_filtering_threshold > 0:
            with torch.no_grad():
                suspect = cosine > self.interclass_filtering_threshold
                suspect[rows, cols] = False
            cosine = cosine.masked_fill(suspect, 0.0)
        target = self._margin(cosine[rows, cols])
        return cosine.index_put((rows, cols), target) * self.s

    def _margin(self, target: Tensor) -> Tensor:
        """The margined cosine of each sample's own class, differentiable in ``target``."""
        if self.m1 != 1.0 or self.m2 != 0.0:
            # acos has an infinite derivative at +-1: keep the angle just inside.
            eps = torch.finfo(target.dtype).eps
            theta = torch.acos(target.clamp(-1 + eps, 1 - eps))
            angular = torch.cos(self.m1 * theta + self.m2)
            if self.easy_margin:
                target = torch.where(target > 0, angular, target)
            else:
                target = torch.where(theta <= self._theta_limit, angular, target - self._fallback_margin)
        return target - self.m3

    def extra_repr(self) -> str:
        return (
            f"s={self.s}, m1={self.m1}, m2={self.m2}, m3={self.m3}, "
            f"interclass_filtering_threshold={self.interclass_filtering_threshold}, "
            f"easy_margin={self.easy_margin}"
        )


class ArcFace(CombinedMarginLoss):
    """Additive angular margin (Deng et al., CVPR 2019): ``s * cos(theta + margin)``."""

    def __init__(self, s: float = 64.0, margin: float = 0.5, *, easy_margin: bool = False) -> None:
        super().__init__(s, 1.0, margin, 0.0, easy_margin=easy_margin)


class CosFace(CombinedMarginLoss):
    """Additive cosine margin (Wang et al., CVPR 2018): ``s * (cos(theta) - margin)``."""

    def __init__(self, s: float = 64.0, margin: float = 0.4) -> None:
        super().__init__(s, 1.0, 0.0, margin)
