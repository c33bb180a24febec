"""Checkpoints that a run continues from exactly: every process's model, head shard, optimiser,
schedule, data position and random states, written atomically.

``<output>/checkpoints/step_<N>/rank<r>.pt``, one file per process (the head's class centres and
their optimiser state are sharded); a resumed run needs the same number of processes. The
backbone alone, loadable as the benchmark's ``model.path``, is ``<output>/backbone.pt``.

A checkpoint holds tensors and plain values only, so it loads with ``weights_only=True``: a
crafted file cannot run code when a run resumes from it.
"""

from __future__ import annotations

import pickle
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.atomic_write import write_atomically


def checkpoint_dir(output_dir: Path, step: int) -> Path:
    return output_dir / "checkpoints" / f"step_{step:06d}"


def random_states() -> dict[str, Any]:
    """Python's, NumPy's and PyTorch's generators (CUDA's too when there is a GPU). NumPy's key
    is a list of ints rather than an array: an array would need code to unpickle."""
    numpy_state = np.random.get_state(legacy=False)
    numpy_state["state"]["key"] = numpy_state["state"]["key"].tolist()
    states: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": numpy_state,
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_random_states(states: dict[str, Any]) -> None:
    random.setstate(states["python"])
    numpy_state = states["numpy"]
    key = np.array(numpy_state["state"]["key"], dtype=np.uint32)
    np.random.set_state({**numpy_state, "state": {**numpy_state["state"], "key": key}})
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def save_checkpoint(directory: Path, rank: int, state: dict[str, Any]) -> Path:
    """Write this process's ``state`` under a temporary name and move it into place, so that a
    run killed while saving leaves the previous checkpoint and no partial file."""
    return write_atomically(directory / f"rank{rank}.pt", lambda temporary: torch.save(state, temporary))


def load_checkpoint(directory: Path, rank: int, world_size: int) -> dict[str, Any]:
    """This process's state from ``directory`` (a ``step_<N>`` folder), checked to come from a
    run with as many processes."""
    path = directory / f"rank{rank}.pt"
    if not path.is_file():
        raise FileNotFoundError(f"resume: {path} does not exist (resume=<output>/checkpoints/step_<N>)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        named = re.search(r"Unsupported global: GLOBAL (\S+)", str(error))
        code = f"; this one names {named[1]}, which only running code could rebuild" if named else ""
        raise ValueError(
            f"resume: {path}: not a checkpoint of bench.train, refused unopened: a checkpoint holds "
            f"tensors and plain values only{code}"
        ) from None
    except RuntimeError as error:  # torch's archive reader: a truncated or foreign file
        raise ValueError(f"resume: {path}: not a readable checkpoint: {str(error).split('.')[0]}") from None
    if not isinstance(state, dict) or "world_size" not in state:
        raise ValueError(f"resume: {path}: not a checkpoint of bench.train (no world_size)")
    if state["world_size"] != world_size:
        raise ValueError(
            f"resume: {directory} was written by {state['world_size']} process(es), this run has "
            f"{world_size}: the head is sharded per process, so resume with as many"
        )
    return state
