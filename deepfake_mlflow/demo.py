"""`make demo`: the study, scaled down, on the demo corpus, as one parent MLflow run.

For now: the corpus, then for each of the four datasets an index run and an extract run
(child runs). Later stages (train, evaluate, registry) join here as they land.
"""

from __future__ import annotations

import time
from pathlib import Path

import mlflow

from . import config, tracking
from .corpus import WRITERS, run_corpus
from .extraction import run_extract
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
            index = out / "workspace" / dataset / "videos.parquet"
            result = run_index(dataset, out / "corpus" / dataset, out=index, seed=seed,
                               probe=True)
            run_extract(dataset, out / "corpus" / dataset, index=index, progress=False)
            results[dataset] = result
        mlflow.log_metric("seconds", time.perf_counter() - started)
    print(f"demo finished in {time.perf_counter() - started:.0f} s; "
          "browse it with: mlflow ui --backend-store-uri sqlite:///mlflow.db")
    return results
