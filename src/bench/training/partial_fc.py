"""Partial FC: the classification head of face-recognition training, sharded and sampled.

With hundreds of thousands of identities the matrix of class centres and its logits outweigh the
backbone. Partial FC (An et al., CVPR 2022; insightface's ``partial_fc_v2.py``) splits the
centres over the ranks of ``torch.distributed`` (model parallel: each rank scores the global
batch against its own centres, and the softmax is normalised across ranks) and, with
``sample_rate`` < 1, scores only a random subset of each rank's centres per step, one that always
holds the classes of the batch: the negatives are a sample, the positives never are.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn


class PartialFC(nn.Module):
    """Mean margin-softmax cross-entropy of the global batch over class centres sharded across ranks.

    Rank ``r`` of ``world_size`` holds the centres of classes ``[class_start, class_start +
    num_local)`` in ``weight``, an ``nn.Parameter`` for this rank's optimiser. It is not
    replicated: do not wrap this module in DistributedDataParallel. ``world_size`` is 1 when
    ``torch.distributed`` is not initialised.

    Each step gathers every rank's embeddings and labels (every rank must pass the same batch
    size), keeps every local centre whose class is in the global batch plus random others up to
    ``num_sample = int(sample_rate * num_local)`` (all centres when ``sample_rate`` is 1; more
    than ``num_sample`` when the batch has more local classes than that), and applies
    ``margin_loss`` to the cosines (``bench.training.losses``). The returned loss is the same on
    every rank, and the gradient each rank's embeddings receive is that of this global loss, not
    of a per-rank share: the backbone's gradients must be summed over ranks, not averaged
    (``bench.training.distributed.sum_gradients``).

    The initial centres are rows of one N(0, 0.01) matrix drawn from ``seed``, the same whatever
    the number of ranks, so a sharded run starts where one process does. The sampling draws from
    a generator of the module's own, seeded by ``seed + rank`` and saved
    in ``state_dict``, so a run resumed from a checkpoint samples what the uninterrupted run
    would have. ``sampled_classes`` holds the global class ids scored in the last step.
    """

    def __init__(
        self,
        margin_loss: Callable[[Tensor, Tensor], Tensor],
        embedding_size: int,
        num_classes: int,
        sample_rate: float = 1.0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if not 0 < sample_rate <= 1:
            raise ValueError(f"sample_rate must lie in (0, 1], got {sample_rate}")
        initialised = dist.is_available() and dist.is_initialized()
        self.rank = dist.get_rank() if initialised else 0
        self.world_size = dist.get_world_size() if initialised else 1
        if num_classes < self.world_size:
            raise ValueError(f"{num_classes} classes cannot be sharded over {self.world_size} ranks")
        per_rank, remainder = divmod(num_classes, self.world_size)
        self.num_classes = num_classes
        self.num_local = per_rank + int(self.rank < remainder)
        self.class_start = per_rank * self.rank + min(self.rank, remainder)
        self.num_sample = int(sample_rate * self.num_local)
        if self.num_sample < 1:
            raise ValueError(f"sample_rate={sample_rate} samples no centre of {self.num_local} on a rank")
        self.sample_rate = sample_rate
        self.margin_loss = margin_loss
        self._generator = torch.Generator().manual_seed(seed + self.rank)
        self.weight = nn.Parameter(
            _initial_shard(num_classes, embedding_size, self.class_start, self.num_local, seed)
        )
        self.sampled_classes: Tensor | None = None

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        """The loss of this rank's ``embeddings`` (B, D) and ``labels`` (B,), in [0, num_classes),
        together with every other rank's batch."""
        labels = labels.reshape(-1).long()
        if self.world_size > 1:
            embeddings = _AllGather.apply(embeddings)
            labels = _all_gather(labels)
        local = labels - self.class_start
        in_shard = (local >= 0) & (local < self.num_local)
        local = torch.where(in_shard, local, -1)
        if self.num_sample < self.num_local:
            index = self._sample(local[in_shard])
            local[in_shard] = torch.searchsorted(index, local[in_shard])
            weight = self.weight[index]
        else:
            index = torch.arange(self.num_local, device=self.weight.device)
            weight = self.weight
        self.sampled_classes = index + self.class_start
        cosine = F.linear(F.normalize(embeddings), F.normalize(weight))
        if cosine.dtype in (torch.float16, torch.bfloat16):  # under autocast: the softmax in float32
            cosine = cosine.float()
        logits = self.margin_loss(cosine.clamp(-1, 1), local)
        return _DistSoftmaxCrossEntropy.apply(logits, local, self.world_size)

    def _sample(self, positive_labels: Tensor) -> Tensor:
        """Sorted local indices of the centres to score: every positive, then random negatives up to
        ``num_sample``. One draw per step whatever the batch, so the stream depends on the step only."""
        positive = torch.unique(positive_labels)
        score = torch.rand(self.num_local, generator=self._generator).to(positive.device)
        score[positive] = 2.0  # above every draw from [0, 1): the top-k keeps all positives
        return torch.topk(score, max(self.num_sample, positive.numel())).indices.sort().values

    def get_extra_state(self) -> dict[str, Tensor]:
        return {"generator": self._generator.get_state()}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self._generator.set_state(state["generator"])

    def extra_repr(self) -> str:
        return (
            f"num_classes={self.num_classes}, embedding_size={self.weight.shape[1]}, "
            f"sample_rate={self.sample_rate}, rank={self.rank}/{self.world_size}, "
            f"class_start={self.class_start}, num_local={self.num_local}"
        )


def _all_gather(tensor: Tensor) -> Tensor:
    """Every rank's ``tensor`` (the same shape on each), concatenated in rank order."""
    tensor = tensor.contiguous()
    gathered = tensor.new_empty((dist.get_world_size() * tensor.shape[0], *tensor.shape[1:]))
    dist.all_gather_single(gathered, tensor)
    return gathered


class _AllGather(torch.autograd.Function):
    """``_all_gather`` with a gradient: each rank's logits reach only its own centres, so the
    gradient of a gathered row is the sum over ranks, returned to the rank that owns the row."""

    @staticmethod
    def forward(ctx: Any, tensor: Tensor) -> Tensor:
        return _all_gather(tensor)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        grad = grad.contiguous()
        local = grad.new_empty((grad.shape[0] // dist.get_world_size(), *grad.shape[1:]))
        dist.reduce_scatter_single(local, grad)
        return local


class _DistSoftmaxCrossEntropy(torch.autograd.Function):
    """Mean softmax cross-entropy over logits whose columns are split across ranks: the max and
    the sum of exponentials are all-reduced, and the target logit comes from the one rank whose
    ``labels`` row is not -1."""

    @staticmethod
    def forward(ctx: Any, logits: Tensor, labels: Tensor, world_size: int) -> Tensor:
        rows = torch.nonzero(labels != -1).squeeze(1)
        max_logit = logits.max(dim=1, keepdim=True).values
        if world_size > 1:
            dist.all_reduce(max_logit, dist.ReduceOp.MAX)
        shifted = logits - max_logit
        probs = shifted.exp()
        # The sum of exponentials and the shifted target logit, reduced in one call.
        reduced = torch.zeros((logits.shape[0], 2), dtype=logits.dtype, device=logits.device)
        reduced[:, 0] = probs.sum(dim=1)
        reduced[rows, 1] = shifted[rows, labels[rows]]
        if world_size > 1:
            dist.all_reduce(reduced)
        probs /= reduced[:, :1]
        ctx.save_for_backward(probs, rows, labels[rows])
        return (reduced[:, 0].log() - reduced[:, 1]).mean()

    @staticmethod
    def backward(ctx: Any, grad_loss: Tensor) -> tuple[Tensor, None, None]:
        probs, rows, cols = ctx.saved_tensors
        grad = probs.index_put((rows, cols), probs.new_tensor(-1.0), accumulate=True)
        return grad * (grad_loss / probs.shape[0]), None, None


#: Rows of the initial class centres drawn at once: bounds the memory of drawing them all.
_INIT_ROWS = 65_536


def _initial_shard(num_classes: int, embedding_size: int, start: int, count: int, seed: int) -> Tensor:
    """Rows ``[start, start + count)`` of the ``(num_classes, embedding_size)`` N(0, 0.01) matrix
    that ``seed`` draws in blocks of ``_INIT_ROWS`` rows from row 0: every rank draws the same
    blocks, so the shards of any number of ranks make up one matrix, and a rank never holds
    more than one block beyond its shard."""
    generator = torch.Generator().manual_seed(seed)
    shard = torch.empty(count, embedding_size)
    for first in range(0, start + count, _INIT_ROWS):
        rows = min(_INIT_ROWS, num_classes - first)
        block = torch.normal(0.0, 0.01, (rows, embedding_size), generator=generator)
        low, high = max(first, start), min(first + rows, start + count)
        if low < high:
            shard[low - start : high - start] = block[low - first : high - first]
    return shard
