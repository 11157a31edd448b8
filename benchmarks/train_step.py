"""The project's training loop against a bare loop over pre-loaded tensors, in one run.

    python benchmarks/train_step.py [FACES_INDEX]   (default demo/workspace/ff/faces.parquet,
                                                     written by `make demo`)

Same model (EfficientNetB4), batch and face size for both. The project's loop includes
JPEG loading, SELECTED augmentation in a worker process, balanced sampling, async MLflow
logging into a real (temporary) store, validation and checkpoints at the end. Prints one
JSON line: images/s of each, their ratio (target >= 0.9) measured after warm-up, the ratio
including start-up, and the share of wall time spent in tracking calls.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import mlflow  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from deepfake_mlflow import augment  # noqa: E402
from deepfake_mlflow.model import create  # noqa: E402
from deepfake_mlflow.train.data import (BalancedBatches, FaceCrops, training_faces,  # noqa: E402
                                        validation_items)
from deepfake_mlflow.train.loop import LoopSettings, fit  # noqa: E402
from deepfake_mlflow.train.objectives import BCE  # noqa: E402

SIZE, BATCH, ITERS, WARMUP, WORKERS = 64, 16, 60, 10, 1


def bare_loop(images: torch.Tensor, labels: torch.Tensor) -> float:
    """Images/s of forward/backward/step alone over tensors already in memory."""
    torch.manual_seed(0)
    model = create("efficientnet_b4", "none").train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    started = None
    for i in range(ITERS):
        if i == WARMUP:
            started = time.perf_counter()
        x = images[(i * BATCH) % len(images):][:BATCH]
        y = labels[(i * BATCH) % len(labels):][:BATCH]
        loss = loss_fn(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss.item()
    return (ITERS - WARMUP) * BATCH / (time.perf_counter() - started)


def project_loop(faces: pd.DataFrame, faces_root: Path) -> dict:
    train_rows = training_faces(faces, "train")
    val_rows = training_faces(faces, "val")
    train = FaceCrops(train_rows, faces_root, SIZE, augment=augment.build("SELECTED"))
    val = FaceCrops(val_rows, faces_root, SIZE)
    stamps: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        mlflow.set_tracking_uri(f"sqlite:///{tmp}/mlflow.db")
        with mlflow.start_run():
            def log(metrics, step):
                mlflow.log_metrics(metrics, step=step, synchronous=False)
                stamps[step] = time.perf_counter()

            torch.manual_seed(0)
            result = fit(create("efficientnet_b4", "none"), BCE(), train,
                         BalancedBatches(train.labels, BATCH, 0), val,
                         validation_items(val.labels, 2 * BATCH, 0), BATCH,
                         LoopSettings(1e-4, 1000, 1e-8, ITERS, ITERS, WORKERS), Path(tmp) / "ck",
                         log)
            mlflow.flush_async_logging()
    # steady state: between the warm-up and the last iteration before validation
    steady = (ITERS - 1 - WARMUP) * BATCH / (stamps[ITERS - 1] - stamps[WARMUP])
    return {"steady": steady, "total": ITERS * BATCH / result.seconds,
            "tracking_share": result.logging_seconds / result.seconds}


def main() -> None:
    index = Path(sys.argv[1] if len(sys.argv) > 1 else "demo/workspace/ff/faces.parquet")
    if not index.is_file():
        sys.exit(f"{index} not found: run `make demo` first, or pass a faces index")
    faces = pd.read_parquet(index)
    rows = training_faces(faces, "train")
    preload = FaceCrops(rows, index.parent / "faces", SIZE)
    picked = [(i % len(preload), 0) for i in range(4 * BATCH)]
    images = torch.stack([preload[i][0] for i in picked])
    labels = torch.stack([preload[i][1] for i in picked])
    # bare, project, bare: the mean of the two bare runs cancels slow drift of the machine
    bare_before = bare_loop(images, labels)
    project = project_loop(faces, index.parent / "faces")
    bare = (bare_before + bare_loop(images, labels)) / 2
    print(json.dumps({
        "benchmark": "train_step", "model": "efficientnet_b4", "size": SIZE, "batch": BATCH,
        "iterations": ITERS, "warmup": WARMUP, "loader_workers": WORKERS,
        "threads": torch.get_num_threads(), "bare_images_per_s": round(bare, 2),
        "project_images_per_s": round(project["steady"], 2),
        "ratio": round(project["steady"] / bare, 3),
        "ratio_including_startup_and_validation": round(project["total"] / bare, 3),
        "tracking_share": round(project["tracking_share"], 4)}))


if __name__ == "__main__":
    main()
