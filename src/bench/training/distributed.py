"""The process group of a ``torchrun`` launch, or a single process without one.

``torchrun`` sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` (and the rendezvous address); a
plain ``python -m bench.train`` has none of them and runs as rank 0 of 1 without initialising
``torch.distributed``. Gloo serves the CPU, NCCL the GPUs.
"""

# No ``from __future__ import annotations``: DDP checks ``sum_gradients``'s annotations as objects.
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.distributed import GradBucket


@dataclass(frozen=True)
class Processes:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world_size > 1:
            dist.barrier()

    def from_main(self, value: str) -> str:
        """The first process's ``value`` on every process."""
        if self.world_size == 1:
            return value
        shared = [value]
        dist.broadcast_object_list(shared, src=0)
        return shared[0]


def start_processes(device: str) -> Processes:
    """Join ``torchrun``'s process group when launched by it; ``device`` is ``cpu``, ``cuda`` or
    ``auto`` (each process takes the GPU of its local rank)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device=cuda but PyTorch sees no GPU; use device=cpu (or auto)")
    chosen = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(chosen)
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    return Processes(rank, world_size, local_rank, chosen)


def stop_processes() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def sum_gradients(_state: object, bucket: GradBucket) -> torch.futures.Future[torch.Tensor]:
    """A DDP communication hook that sums the backbone's gradients over the processes instead of
    averaging them. The loss is the mean over the global batch, so each process's gradient is
    already its share of the whole; averaging would divide the step by the number of processes,
    and a run on n processes would not take the steps of one process with the same global batch."""
    return dist.all_reduce(bucket.buffer(), async_op=True).get_future().then(lambda future: future.value()[0])
