"""The training loop, shared by every phase (bce, triplet, finetune), in plain sight.

Per iteration: one batch, one step. Every `val_interval` iterations: the validation loss
on the fixed, unaugmented sample; the plateau rule (lr x0.1 after `patience` iterations
without a new best, stop below min_lr); the best weights kept by validation loss only; a
checkpoint with everything a resume needs (weights, optimizer, plateau, iteration, torch
RNG; batches depend on the iteration number alone, see data.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch.utils.data import DataLoader

from ..model import DeepfakeDetector, save_weights
from .data import FaceCrops
from .schedule import Plateau

CHECKPOINT = "checkpoint.pt"
LOADER_TIMEOUT = 600  # seconds for one batch: a stuck worker fails the run, never hangs it
BEST = "best.safetensors"


@dataclass
class LoopSettings:
    lr: float
    patience: int
    min_lr: float
    val_interval: int
    max_iters: int
    workers: int


@dataclass
class LoopResult:
    best_val_loss: float
    best_iteration: int
    iterations: int
    stopped_by: str  # min_lr | max_iters
    best_weights: Path
    seconds: float
    logging_seconds: float


def _worker_init(_):
    import cv2
    cv2.setNumThreads(1)
    torch.set_num_threads(1)


def _loader(data: FaceCrops, batch_sampler, workers: int) -> DataLoader:
    # spawn, not fork: forking a process that runs MLflow's logging threads and torch's
    # thread pools can leave a worker deadlocked
    return DataLoader(data, batch_sampler=batch_sampler, num_workers=workers,
                      worker_init_fn=_worker_init if workers else None,
                      prefetch_factor=4 if workers else None,
                      multiprocessing_context="spawn" if workers else None,
                      timeout=LOADER_TIMEOUT if workers else 0)


@torch.no_grad()
def validation_loss(model: DeepfakeDetector, objective, data: FaceCrops, items, batch: int) -> float:
    model.eval()
    total, count = 0.0, 0
    for start in range(0, len(items), batch):
        chunk = items[start:start + batch]
        images = torch.stack([data[i][0] for i in chunk])
        labels = torch.stack([data[i][1] for i in chunk])
        total += objective.loss(model, images, labels).item() * len(chunk)
        count += len(chunk)
    return total / max(1, count)


def save_checkpoint(path: Path, **state) -> None:
    """Plain tensors and numbers only: loads with torch.load(weights_only=True)."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    tmp.replace(path)  # a kill leaves the previous checkpoint whole


def fit(model: DeepfakeDetector, objective, train: FaceCrops, batches, val: FaceCrops,
        val_items: list, val_batch: int, settings: LoopSettings, folder: Path,
        log: Callable[[dict, int], None]) -> LoopResult:
    folder.mkdir(parents=True, exist_ok=True)
    params = objective.prepare(model)
    optimizer = torch.optim.Adam(params, lr=settings.lr)
    plateau = Plateau(settings.lr, settings.patience, min_lr=settings.min_lr)
    iteration = 0
    if (folder / CHECKPOINT).is_file():  # resume where the last checkpoint left off
        state = torch.load(folder / CHECKPOINT, weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        plateau.load_state_dict(state["plateau"])
        torch.set_rng_state(state["torch_rng"])
        iteration = int(state["iteration"])
    batches.start = iteration
    started, logging = time.perf_counter(), 0.0
    stopped_by = "max_iters"
    loader = iter(_loader(train, batches, settings.workers))
    while iteration < settings.max_iters and not plateau.done:
        images, labels = next(loader)
        objective.train_mode(model)
        loss = objective.loss(model, images, labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        iteration += 1
        metrics = {"train_loss": loss.item()}
        if iteration % settings.val_interval == 0 or iteration == settings.max_iters:
            val_loss = validation_loss(model, objective, val, val_items, val_batch)
            if plateau.step(val_loss, iteration):
                save_weights(model, folder / BEST)
            for group in optimizer.param_groups:
                group["lr"] = plateau.lr
            metrics.update(val_loss=val_loss, lr=plateau.lr, best_val_loss=plateau.best)
            save_checkpoint(folder / CHECKPOINT, model=model.state_dict(),
                            optimizer=optimizer.state_dict(), plateau=plateau.state_dict(),
                            torch_rng=torch.get_rng_state(), iteration=iteration)
        t0 = time.perf_counter()
        log(metrics, iteration)
        logging += time.perf_counter() - t0
    if plateau.done:
        stopped_by = "min_lr"
    if not (folder / BEST).is_file():  # max_iters below val_interval: keep the last weights
        save_weights(model, folder / BEST)
    return LoopResult(plateau.best, plateau.best_iteration, iteration, stopped_by,
                      folder / BEST, time.perf_counter() - started, logging)
