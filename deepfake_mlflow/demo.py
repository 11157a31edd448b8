"""`make demo`: the study, scaled down, on the demo corpus, as one parent MLflow run.

The corpus, then for each of the four datasets: an index run, an extract run, and the
training grid of the paper at CPU scale (BCE and triplet, each with NONE and SELECTED
augmentation; the triplet runs start from the BCE model with the same augmentation).
All are child runs of one `demo` run. Evaluation and the registry join as they land.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import mlflow

from . import config, tracking
from .corpus import WRITERS, run_corpus
from .extraction import run_extract
from .indexing import run_index
from .train import TrainConfig, run_train


def train_grid(dataset: str, workspace: Path, seed: int, scale: dict) -> dict:
    """BCE and triplet x NONE and SELECTED, at the demo's scale (config.DEMO_TRAIN)."""
    runs = {}
    for aug in config.DEMO_AUGMENTATIONS:
        base = TrainConfig(dataset=dataset, faces=str(workspace / "faces.parquet"),
                           augment=aug, seed=seed, **scale)
        bce = run_train(base)
        triplet = run_train(replace(base, loss="triplet", init=bce["run_id"]))
        runs[aug] = {"bce": bce["run_id"], "triplet": triplet["run_id"]}
    return runs


def run_demo(out: str | Path = "demo", size: int = config.DEMO_CORPUS_SIZE,
             seed: int = config.DEFAULT_SEED, train_datasets=tuple(WRITERS),
             train_scale: dict | None = None) -> dict:
    """The demo study; train_datasets and train_scale narrow it (for tests, quick looks)."""
    out = Path(out)
    scale = {**config.DEMO_TRAIN, **(train_scale or {})}
    started = time.perf_counter()
    results = {}
    with tracking.stage_run("demo", run_name="demo", params={"size": size, "seed": seed,
                                                             "out": str(out.resolve())}):
        run_corpus(out / "corpus", size=size, seed=seed)
        for dataset in WRITERS:
            index = out / "workspace" / dataset / "videos.parquet"
            result = run_index(dataset, out / "corpus" / dataset, out=index, seed=seed,
                               probe=True)
            run_extract(dataset, out / "corpus" / dataset, index=index, progress=False)
            results[dataset] = {"index": result}
            if dataset in train_datasets:
                results[dataset]["train"] = train_grid(dataset, index.parent, seed, scale)
        mlflow.log_metric("seconds", time.perf_counter() - started)
    print(f"demo finished in {time.perf_counter() - started:.0f} s; "
          "browse it with: mlflow ui --backend-store-uri sqlite:///mlflow.db")
    return results
