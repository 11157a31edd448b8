"""Where and how this process trains (device, precision, processes, loader workers):
resolved once from a TrainConfig, before any run is opened, and read by the phases and
the loop alike."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .. import accel, distributed
from ..errors import UserInputError
from ..vocabulary import Loss
from .config import TrainConfig


@dataclass(frozen=True)
class Runtime:
    device: torch.device
    precision: accel.Precision
    world: distributed.World
    workers: int  # DataLoader worker processes
    hardware: dict  # accel.describe(device): device, device_name, device_memory_gb

    @classmethod
    def of(cls, cfg: TrainConfig) -> "Runtime":
        world = distributed.from_environment()
        device = distributed.rank_device(world, accel.resolve_device(cfg.device))
        precision = accel.resolve_precision(cfg.precision, device)
        # the global batches the processes share: a bce phase's, and a triplet step's
        batches = {"batch_size": cfg.batch_size}
        if cfg.loss == Loss.TRIPLET:
            batches["triplets"] = cfg.triplets
        for name, size in batches.items():
            if size % world.size:
                raise UserInputError(f"{name}={size} does not split evenly over "
                                     f"{world.size} processes: the global batch is shared")
        return cls(device, precision, world, accel.loader_workers(cfg.workers, world.size),
                   accel.describe(device))

    @classmethod
    def on(cls, device: torch.device, precision: accel.Precision | None = None,
           workers: int = 0) -> "Runtime":
        """One process on a given device (a benchmark's, a test's)."""
        return cls(device, precision or accel.Precision("fp32", device.type),
                   distributed.SINGLE, workers, accel.describe(device))

    def params(self) -> dict:
        return {"device_used": self.hardware["device"],
                "device_name": self.hardware["device_name"],
                "device_memory_gb": self.hardware["device_memory_gb"],
                "precision_used": self.precision.name, "world_size": self.world.size,
                "loader_workers": self.workers}

    def tags(self) -> dict:
        return {"device": self.hardware["device"], "device_name": self.hardware["device_name"],
                "precision": self.precision.name, "world_size": str(self.world.size)}
