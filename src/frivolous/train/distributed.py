"""Training one run on several processes (GPUs) with DistributedDataParallel.

Launched by ``torchrun`` (``torchrun --nproc-per-node 8 -m frivolous train
SPEC``), which sets ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE``. Every
global batch of the spec's size is split across the processes, so the
gradient DDP averages is that of the whole batch: the run trains as one
process would, up to floating-point summation order. Evaluation is split
too, and its sums are added up across processes. Only the first process
writes checkpoints and results, into the same run folder as a
one-process run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Shard:
    """This process's place among ``world`` processes."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1

    def take(self, items: torch.Tensor) -> torch.Tensor:
        """This process's contiguous part of a batch of indices (sizes differ by at most one)."""
        return items.tensor_split(self.world)[self.rank] if self.active else items

    def sum(self, value: torch.Tensor) -> torch.Tensor:
        """``value`` summed over all processes (in place; returned for convenience)."""
        if self.active:
            dist.all_reduce(value, op=dist.ReduceOp.SUM)
        return value

    def barrier(self) -> None:
        if self.active:
            dist.barrier()


SINGLE = Shard()


def from_environment() -> Shard:
    """The shard torchrun describes, or a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return SINGLE
    return Shard(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))


def start(shard: Shard, device: torch.device) -> torch.device:
    """Join the process group (NCCL on CUDA, gloo on CPU); return this process's device."""
    if not shard.active:
        return device
    if device.type == "cuda":
        device = torch.device("cuda", shard.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device


def stop(shard: Shard) -> None:
    if shard.active and dist.is_initialized():
        dist.destroy_process_group()
