"""Several processes training one model: torchrun's environment, read in one place.

`torchrun --nproc-per-node N -m deepfake_mlflow.cli train ...` starts N copies of the
command with RANK, WORLD_SIZE and LOCAL_RANK set. Each copy joins one process group (NCCL
on GPUs, gloo on the CPU), takes its share of every batch, and lets DistributedDataParallel
average the gradients. Rank 0 alone writes to MLflow and writes checkpoints; the others
learn what it decided through `share`. Under torchrun the same path runs for one process
as for N (a process group, DistributedDataParallel), so one GPU checks what eight use.
Without torchrun, every call here is a no-op.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0
    launched: bool = False  # started by torchrun (even with one process)

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.launched

    def share(self, value):
        """Rank 0's value (any picklable object) on every rank."""
        if not self.distributed:
            return value
        box = [value if self.main else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """The elementwise sum over ranks (in place, also returned)."""
        if self.distributed:
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()


SINGLE = World()


def from_environment() -> World:
    """The world torchrun describes (RANK, WORLD_SIZE, LOCAL_RANK), or a single process."""
    if "WORLD_SIZE" not in os.environ or "RANK" not in os.environ:
        return SINGLE
    return World(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]),
                 int(os.environ.get("LOCAL_RANK", "0")), launched=True)


def start(world: World, device: torch.device) -> None:
    """Join the process group once per process (NCCL for CUDA devices, gloo otherwise)."""
    if not world.distributed or dist.is_initialized():
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend, rank=world.rank, world_size=world.size,
                            device_id=device if device.type == "cuda" else None)


def stop() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def rank_device(world: World, device: torch.device) -> torch.device:
    """Under torchrun each process takes the GPU of its local rank (`--device cuda` or auto
    means "the GPUs of this node"); an explicit cuda:N is kept for a single process only."""
    if device.type == "cuda" and world.distributed:
        return torch.device("cuda", world.local_rank)
    return device
