"""The project's training loop against a bare step over pre-loaded tensors, in one run.

    python benchmarks/train_step.py [--faces demo/workspace/ff/faces.parquet]
        [--device auto] [--precision fp32,bf16] [--size N] [--batch N] [--iters N]
    torchrun --nproc-per-node N benchmarks/train_step.py ...   (the DDP path)

For each precision, same model (EfficientNetB4), face size, batch, memory format
(channels-last) and precision for both:
- bare: forward/backward/step over normalised tensors already on the device (the limit);
- project: deepfake_mlflow.train.loop.fit: JPEG loading, SELECTED augmentation in loader
  workers, pinned non-blocking copies, balanced sampling, async MLflow logging into a real
  (temporary) store, then validation and a checkpoint at the end;
- loader: the same DataLoader alone, with no model: whether decoding keeps up.
Defaults: 256 px, batch 32 (the protocol's) on CUDA; 64 px, batch 16 on the CPU.
Prints one JSON line; ratio = project / bare faces per second after warm-up (target >= 0.9).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import mlflow  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from deepfake_mlflow import accel, augment, config, distributed  # noqa: E402
from deepfake_mlflow.model import create  # noqa: E402
from deepfake_mlflow.preprocess import MEMORY_FORMAT, to_model_input  # noqa: E402
from deepfake_mlflow.train.data import (BalancedBatches, FaceCrops, training_faces,  # noqa: E402
                                        validation_items)
from deepfake_mlflow.journal import MetricJournal  # noqa: E402
from deepfake_mlflow.train.loop import LoopSettings, PhaseData, _loader, fit  # noqa: E402
from deepfake_mlflow.train.runtime import Runtime  # noqa: E402
from deepfake_mlflow.train.objectives import BCE  # noqa: E402


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bare_step(images: torch.Tensor, labels: torch.Tensor, args, precision) -> float:
    """Faces/s of forward/backward/step alone; the loss is read back every
    config.LOSS_FETCH_EVERY steps, as the loop does."""
    device = images.device
    torch.manual_seed(0)
    model = create(args.model, "none").to(device, memory_format=MEMORY_FORMAT).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    scaler = precision.scaler()
    pending, started = [], None
    for i in range(args.iters):
        if i == args.warmup:
            synchronize(device)
            started = time.perf_counter()
        start = (i * args.batch) % len(images)
        x, y = images[start:start + args.batch], labels[start:start + args.batch]
        with precision.autocast():
            logits = model(x)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits.float(), y)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        pending.append(loss.detach())
        if len(pending) == config.LOSS_FETCH_EVERY:
            torch.stack(pending).tolist()
            pending.clear()
    synchronize(device)
    return (args.iters - args.warmup) * args.batch / (time.perf_counter() - started)


def loader_only(train: FaceCrops, args, device: torch.device, workers: int) -> float:
    """Faces/s the loader workers deliver to the device, with no model in the way."""
    loader = iter(_loader(train, BalancedBatches(train.labels, args.batch, 0), workers, device))
    started = None
    for i in range(args.iters):
        if i == args.warmup:
            synchronize(device)
            started = time.perf_counter()
        images, _ = next(loader)
        to_model_input(images, device)
    synchronize(device)
    return (args.iters - args.warmup) * args.batch / (time.perf_counter() - started)


def project_loop(train: FaceCrops, val: FaceCrops, args, device, precision, world,
                 workers: int) -> dict:
    stamps: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        journal = None
        if world.main:
            mlflow.set_tracking_uri(f"sqlite:///{tmp}/mlflow.db")
            run = mlflow.start_run()

            class TimedJournal(MetricJournal):  # the project's journal, each step timed
                def log(self, metrics, step):
                    super().log(metrics, step)
                    stamps[step] = time.perf_counter()

            journal = TimedJournal(Path(tmp) / "ck", run.info.run_id)

        torch.manual_seed(0)
        runtime = Runtime(device, precision, world, workers, accel.describe(device))
        settings = LoopSettings(1e-4, 10**6, 1e-8, args.iters, args.iters, runtime)
        data = PhaseData(train, BalancedBatches(train.labels, args.batch, 0), val,
                         validation_items(val.labels, 2 * args.batch, 0), args.batch)
        result = fit(create(args.model, "none"), BCE(), data, settings, Path(tmp) / "ck",
                     journal)
        if world.main:
            journal.close()
            mlflow.end_run()
    if not world.main:
        return {}
    # steady state: from the warm-up to the last iteration before validation; losses are
    # read back (a device sync) every config.LOSS_FETCH_EVERY iterations
    warm = min(s for s in stamps if s >= args.warmup)
    steady = (args.iters - warm) * args.batch / (stamps[args.iters] - stamps[warm])
    return {"steady": steady, "total": args.iters * args.batch / result.seconds,
            "tracking_share": result.logging_seconds / result.seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", default="demo/workspace/ff/faces.parquet")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="", help="comma list (default: fp32,bf16 on "
                                                        "CUDA, fp32 on the CPU)")
    parser.add_argument("--model", default="efficientnet_b4")
    parser.add_argument("--size", type=int, default=0)
    parser.add_argument("--batch", type=int, default=0)
    parser.add_argument("--iters", type=int, default=0)
    parser.add_argument("--warmup", type=int, default=0)
    parser.add_argument("--workers", type=int, default=-1)
    args = parser.parse_args()
    world = distributed.from_environment()
    device = distributed.rank_device(world, accel.resolve_device(args.device))
    cuda = device.type == "cuda"
    args.size = args.size or (256 if cuda else 64)
    args.batch = args.batch or (32 if cuda else 16)
    args.iters = args.iters or (300 if cuda else 60)
    args.warmup = args.warmup or (50 if cuda else 10)
    precisions = [p for p in (args.precision or ("fp32,bf16" if cuda else "fp32")).split(",")]
    index = Path(args.faces)
    if not index.is_file():
        raise SystemExit(f"{index} not found: run `make demo` first, or pass --faces")
    workers = accel.loader_workers(args.workers, world.size)
    distributed.start(world, device)
    faces = pd.read_parquet(index)
    train = FaceCrops(training_faces(faces, "train"), index.parent / "faces", args.size,
                      augment=augment.build(config.SELECTED_AUGMENTATIONS))
    val = FaceCrops(training_faces(faces, "val"), index.parent / "faces", args.size)
    plain = FaceCrops(training_faces(faces, "train"), index.parent / "faces", args.size)
    picked = [(i % len(plain), 0) for i in range(8 * args.batch)]
    images_u8, labels = plain.stack(picked)
    images = to_model_input(images_u8, device)
    labels = labels.to(device)
    result = {"benchmark": "train_step", "model": args.model, "size": args.size,
              "batch": args.batch, "iterations": args.iters, "warmup": args.warmup,
              "loader_workers": workers, "world_size": world.size,
              "torchrun": world.launched, **accel.describe(device)}
    for name in precisions:
        precision = accel.resolve_precision(name, device)
        accel.configure_backends(device, precision)
        if world.launched:
            project = project_loop(train, val, args, device, precision, world, workers)
            result[f"{name}_project_faces_per_s"] = round(project.get("steady", 0), 1)
            continue
        # bare, project, bare: the mean of the two bare runs cancels slow drift
        bare_before = bare_step(images, labels, args, precision)
        project = project_loop(train, val, args, device, precision, world, workers)
        bare = (bare_before + bare_step(images, labels, args, precision)) / 2
        result.update({
            f"{name}_bare_faces_per_s": round(bare, 1),
            f"{name}_project_faces_per_s": round(project["steady"], 1),
            f"{name}_ratio": round(project["steady"] / bare, 3),
            f"{name}_ratio_with_startup_and_validation": round(project["total"] / bare, 3),
            f"{name}_tracking_share": round(project["tracking_share"], 4)})
    if not world.launched:
        result["loader_faces_per_s"] = round(loader_only(train, args, device, workers), 1)
    distributed.stop()
    if world.main:
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
