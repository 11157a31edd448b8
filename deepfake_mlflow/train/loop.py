"""The training loop, shared by every phase (bce, triplet, finetune), in plain sight.

Per iteration: one batch (uint8 faces, pinned, copied without blocking), normalised on the
device, forward under autocast, loss in fp32, one step (through a gradient scaler for
fp16). Every `val_interval` iterations: the validation loss on the fixed, unaugmented
sample (held on the device); the plateau rule (lr x0.1 after `patience` iterations without
a new best, stop below min_lr); the best weights kept by validation loss only; a checkpoint
with everything a resume needs (weights, optimizer, scaler, plateau, iteration, torch RNG;
batches depend on the iteration number alone, see data.py). Checkpoints load on any device.

Under torchrun the model is wrapped in DistributedDataParallel (BatchNorm synchronised
across GPUs, so statistics are those of the global batch), every rank validates its share
of the sample and the losses are summed across ranks; rank 0 alone logs and writes files.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from .. import accel, config, console
from ..distributed import SINGLE, World
from ..journal import MetricJournal
from ..model import DeepfakeDetector, save_weights
from ..paths import atomic_target
from ..preprocess import MEMORY_FORMAT, to_model_input
from .data import FaceCrops, shard
from .runtime import Runtime
from .schedule import Plateau

CHECKPOINT = "checkpoint.pt"
LOADER_TIMEOUT = 600  # seconds for one batch: a stuck worker fails the run, never hangs it
BEST = "best.safetensors"


@dataclass
class LoopSettings:
    """How one phase trains: its schedule, and where (the process's Runtime)."""
    lr: float
    patience: int
    min_lr: float
    val_interval: int
    max_iters: int
    runtime: Runtime = field(default_factory=lambda: Runtime.on(torch.device("cpu")))
    label: str = "train"  # the progress bar's name
    # called with (val_loss, iteration) after each validation, on every rank; it may raise
    # errors.EndedEarly to stop (an ablation's pruner does)
    on_validation: Callable[[float, int], None] | None = None


@dataclass
class PhaseData:
    """What one phase trains and validates on: the training crops and the batches drawn
    from them, the validation crops and the fixed sample of them, and its batch size."""
    train: FaceCrops
    batches: object  # data.BalancedBatches or data.TripletBatches over `train`
    val: FaceCrops
    val_items: list
    val_batch: int


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


def _loader(data: FaceCrops, batch_sampler, workers: int, device: torch.device) -> DataLoader:
    # spawn, not fork: forking a process that runs MLflow's logging threads and torch's
    # thread pools can leave a worker deadlocked
    return DataLoader(data, batch_sampler=batch_sampler, num_workers=workers,
                      pin_memory=device.type == "cuda",
                      worker_init_fn=_worker_init if workers else None,
                      prefetch_factor=config.LOADER_PREFETCH if workers else None,
                      persistent_workers=bool(workers),
                      multiprocessing_context="spawn" if workers else None,
                      timeout=LOADER_TIMEOUT if workers else 0)


@dataclass
class ValidationSample:
    """This rank's share of the fixed validation sample, decoded once, kept on the device."""
    images: torch.Tensor  # uint8 (N, H, W, 3)
    labels: torch.Tensor
    batch: int

    @classmethod
    def load(cls, data: FaceCrops, items: list, batch: int, group: int, world: World,
             device: torch.device) -> "ValidationSample":
        images, labels = data.stack(shard(items, world.rank, world.size, group))
        return cls(images.to(device), labels.to(device), batch)


@torch.no_grad()
def validation_loss(model: torch.nn.Module, objective, sample: ValidationSample,
                    precision: accel.Precision, world: World = SINGLE) -> float:
    """The mean loss over the whole sample (every rank's share), weighted by items."""
    model.eval()
    device = sample.labels.device
    total = torch.zeros(2, dtype=torch.float64, device=device)  # sum of losses, items
    for start in range(0, len(sample.labels), sample.batch):
        x = to_model_input(sample.images[start:start + sample.batch], device)
        y = sample.labels[start:start + sample.batch]
        with precision.autocast():
            outputs = objective.forward(model, x)
        total[0] += objective.criterion(outputs, y).double() * len(y)
        total[1] += len(y)
    world.sum(total)
    return (total[0] / total[1].clamp(min=1)).item()


def save_checkpoint(path: Path, **state) -> None:
    """Plain tensors and numbers only: loads with torch.load(weights_only=True)."""
    with atomic_target(path) as tmp:  # a kill leaves the previous checkpoint whole
        torch.save(state, tmp)


def _cpu_state(state: dict) -> dict:
    """A state dict with every tensor on the CPU: a checkpoint must load anywhere."""
    return {k: v.detach().cpu() if isinstance(v, torch.Tensor) else v for k, v in state.items()}


def write_checkpoint(folder: Path, model, optimizer, plateau: Plateau, scaler, iteration: int,
                     journal: MetricJournal | None, device: torch.device) -> None:
    """Everything a resume needs, written whole or not at all, with the number of journal
    points it covers (those after it are made again by a resume)."""
    state = dict(model=_cpu_state(model.state_dict()), optimizer=optimizer.state_dict(),
                 plateau=plateau.state_dict(), torch_rng=torch.get_rng_state(),
                 iteration=iteration, scaler=scaler.state_dict(),
                 journal_points=journal.count if journal is not None else 0)
    if device.type == "cuda":
        state["cuda_rng"] = torch.cuda.get_rng_state(device)
    save_checkpoint(folder / CHECKPOINT, **state)


def read_checkpoint(folder: Path, model, optimizer, plateau: Plateau, scaler,
                    precision: accel.Precision, device: torch.device) -> tuple[int, int]:
    """Restore the last checkpoint, if any, on this device; returns the iteration it was
    written at and the journal points it covers (0, 0 for a fresh start)."""
    if not (folder / CHECKPOINT).is_file():
        return 0, 0
    state = torch.load(folder / CHECKPOINT, map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])  # moved to the parameters' device
    plateau.load_state_dict(state["plateau"])
    if precision.needs_scaler and state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    torch.set_rng_state(state["torch_rng"])
    if device.type == "cuda" and "cuda_rng" in state:
        torch.cuda.set_rng_state(state["cuda_rng"], device)
    return int(state["iteration"]), int(state.get("journal_points", 0))


def _prepare_model(model: DeepfakeDetector, runtime: Runtime) -> DeepfakeDetector:
    model = model.to(runtime.device, memory_format=MEMORY_FORMAT)
    if runtime.world.distributed and runtime.device.type == "cuda":
        # BatchNorm over the global batch, as one process would compute it
        from timm.layers import convert_sync_batchnorm
        model = convert_sync_batchnorm(model)
    return model


def fit(model: DeepfakeDetector, objective, data: PhaseData, settings: LoopSettings,
        folder: Path, journal: MetricJournal | None) -> LoopResult:
    """Train until the plateau rule stops or max_iters; metric points go to `journal`
    (rank 0; None elsewhere), which a checkpoint covers."""
    runtime = settings.runtime
    device, precision, world = runtime.device, runtime.precision, runtime.world
    batches = data.batches
    folder.mkdir(parents=True, exist_ok=True)
    model = _prepare_model(model, runtime)
    params = objective.prepare(model)
    optimizer = torch.optim.Adam(params, lr=settings.lr)
    scaler = precision.scaler()
    plateau = Plateau(settings.lr, settings.patience, min_lr=settings.min_lr)
    # resume where the last checkpoint left off; covered: the journal points it accounts for
    iteration, covered = read_checkpoint(folder, model, optimizer, plateau, scaler, precision,
                                         device)
    if journal is not None:  # points after the checkpoint are made again from here
        journal.rewind(covered)
    net = model
    if world.distributed:  # after prepare(): DDP syncs the parameters that require grad
        net = DistributedDataParallel(model, device_ids=[device] if device.type == "cuda"
                                      else None)
    batches.shard_for(world.rank, world.size)
    batches.start = iteration
    sample = ValidationSample.load(data.val, data.val_items, data.val_batch, batches.group,
                                   world, device)
    started, logging = time.perf_counter(), 0.0
    loader = iter(_loader(data.train, batches, runtime.workers, device))
    pending: list[torch.Tensor] = []  # train losses still on the device
    bar = console.progress(total=settings.max_iters, initial=iteration, enabled=world.main,
                           desc=settings.label, unit="it")

    def flush(last: int) -> None:
        """Read the pending losses back in one transfer (not one sync per step) and log them."""
        nonlocal logging
        if not pending:
            return
        losses = (world.sum(torch.stack(pending)) / world.size).tolist()
        pending.clear()
        t0 = time.perf_counter()
        if journal is not None:
            for offset, value in enumerate(losses):
                journal.log({"train_loss": value}, last - len(losses) + 1 + offset)
        logging += time.perf_counter() - t0

    while iteration < settings.max_iters and not plateau.done:
        images, labels = next(loader)
        x = to_model_input(images, device)
        y = labels.to(device, non_blocking=True)
        objective.train_mode(model)
        with precision.autocast():
            outputs = objective.forward(net, x)
        loss = objective.criterion(outputs, y)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        iteration += 1
        bar.update(1)
        pending.append(loss.detach())
        validate = iteration % settings.val_interval == 0 or iteration == settings.max_iters
        if validate or len(pending) >= config.LOSS_FETCH_EVERY:
            flush(iteration)
        if not validate:
            continue
        val_loss = validation_loss(model, objective, sample, precision, world)
        improved = plateau.step(val_loss, iteration)
        for group in optimizer.param_groups:
            group["lr"] = plateau.lr
        if world.main:
            t0 = time.perf_counter()
            if journal is not None:
                # log10_lr: 1e-5 and 1e-6 are both 0 on a linear chart of lr
                journal.log({"val_loss": val_loss, "lr": plateau.lr,
                             "log10_lr": math.log10(plateau.lr),
                             "best_val_loss": plateau.best}, iteration)
            logging += time.perf_counter() - t0
            if improved:
                save_weights(model, folder / BEST)
            write_checkpoint(folder, model, optimizer, plateau, scaler, iteration, journal,
                             device)
            t0 = time.perf_counter()
            if journal is not None:  # the points the checkpoint covers may go to the store
                journal.checkpointed(journal.count)
            logging += time.perf_counter() - t0
        bar.set_postfix(val_loss=f"{val_loss:.4f}", lr=f"{plateau.lr:.0e}", refresh=False)
        if settings.on_validation is not None:
            settings.on_validation(val_loss, iteration)
    bar.close()
    flush(iteration)
    stopped_by = "min_lr" if plateau.done else "max_iters"
    if world.main and not (folder / BEST).is_file():  # max_iters below val_interval
        save_weights(model, folder / BEST)
    world.barrier()  # the best weights are on disk before any rank goes on
    return LoopResult(plateau.best, plateau.best_iteration, iteration, stopped_by,
                      folder / BEST, time.perf_counter() - started, logging)
