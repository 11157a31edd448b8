"""`make demo`: the study, scaled down, on the demo corpus, as one parent MLflow run.

For now: the corpus, then an index run for each of the four datasets (child runs).
Later stages (extract, train, evaluate, registry) join here as they land.
"""

from __future__ import annotations

import time
from pathlib import Path

import mlflow

from . import config, tracking
from .corpus import WRITERS, run_corpus
from .indexing import run_index


def run_demo(out: str | Path = "demo", size: int = config.DEMO_CORPUS_SIZE,
             seed: int = config.DEFAULT_SEED) -> dict:
    out = Path(out)
    started = time.perf_counter()
    results = {}
    with tracking.stage_run("demo", run_name="demo", params={"size": size, "seed": seed,
                                                             "out": str(out.resolve())}):
        run_corpus(out / "corpus", size=size, seed=seed)
        for dataset in WRITERS:
            result = run_index(dataset, out / "corpus" / dataset,
                               out=out / "workspace" / dataset / "videos.parquet", seed=seed,
                               probe=True)
            results[dataset] = result
            print(f"{dataset}: {len(result.frame)} videos indexed")
        mlflow.log_metric("seconds", time.perf_counter() - started)
    print(f"demo finished in {time.perf_counter() - started:.0f} s; "
          "browse it with: mlflow ui --backend-store-uri sqlite:///mlflow.db")
    return results
