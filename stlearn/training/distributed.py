"""Data-parallel training over several processes: ``torchrun --nproc_per_node N -m stlearn train CONFIG``.

Each process (rank) takes the same global batch ``k`` — a function of ``(seed, k)`` only — and trains
on its own slice of ``batch_size / world_size`` sequences; PyTorch's ``DistributedDataParallel``
averages the gradients across ranks, so an update equals the update of one process on the whole
batch (the loss is a mean over sequences), up to the order of float additions. Backends: gloo on
CPU, nccl on CUDA (one GPU per rank, ``cuda:LOCAL_RANK``). Only rank 0 validates, logs and writes
the checkpoint, which records the world size.

Taught nowhere in the lessons: it is for users who outgrow one machine (README, "Training at paper size").
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    """This process's place among the training processes (rank 0 of 1 without ``torchrun``)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    def device(self, device: str) -> torch.device:
        """The device of this rank: ``cuda:LOCAL_RANK`` when training on CUDA with several ranks."""
        dev = torch.device(device)
        if dev.type == "cuda" and self.size > 1:
            return torch.device("cuda", self.local_rank)
        return dev

    def shard(self, batch: torch.Tensor) -> torch.Tensor:
        """This rank's contiguous slice of a global batch along dimension 0."""
        if self.size == 1:
            return batch
        n = batch.shape[0] // self.size
        return batch[self.rank * n : (self.rank + 1) * n]

    def agree(self, value: float, device: torch.device) -> float:
        """Rank 0's ``value`` on every rank (plans and stop decisions are taken once, on rank 0)."""
        if self.size == 1:
            return value
        t = torch.tensor([value], dtype=torch.float64, device=device)
        dist.broadcast(t, src=0)
        return float(t.item())

    def barrier(self) -> None:
        if self.size > 1:
            dist.barrier()


def is_main_process() -> bool:
    """True in a plain run and in rank 0 of a ``torchrun`` group (the one process that writes)."""
    return int(os.environ.get("WORLD_SIZE", "1")) == 1 or os.environ.get("RANK", "0") == "0"


def join(device: str, batch_size: int) -> World:
    """Join the process group ``torchrun`` set up (environment ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``).

    Without those variables this is one process and nothing is initialised.
    """
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size == 1:
        return World()
    world = World(int(os.environ["RANK"]), size, int(os.environ.get("LOCAL_RANK", "0")))
    if batch_size % size:
        raise ValueError(
            f"data-parallel training splits each batch over the {size} processes: batch_size = {batch_size} "
            f"is not a multiple of {size}"
        )
    if not dist.is_initialized():
        cuda = torch.device(device).type == "cuda"
        if cuda:
            torch.cuda.set_device(world.local_rank)
        dist.init_process_group("nccl" if cuda else "gloo")
    return world


def leave(world: World) -> None:
    """Tear the process group down at the end of a run."""
    if world.size > 1 and dist.is_initialized():
        dist.destroy_process_group()


def wrap(model: torch.nn.Module, world: World) -> torch.nn.Module:
    """``model`` wrapped in ``DistributedDataParallel`` when there are several ranks (itself otherwise)."""
    if world.size == 1:
        return model
    dev = next(model.parameters()).device
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None)
