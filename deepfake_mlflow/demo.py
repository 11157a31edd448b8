"""`make demo`: the study, scaled down, on the demo corpus, as one parent MLflow run.

For now: the corpus, then an index run for each of the four datasets (child runs).
Later stages (extract, train, evaluate, registry) join here as they land.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import mlflow

from . import config, tracking
from .corpus import WRITERS, build_corpus
from .indexing import run_index


def run_demo(out: str | Path = "demo", size: int = config.DEMO_CORPUS_SIZE,
             seed: int = config.DEFAULT_SEED) -> dict:
    out = Path(out)
    started = time.perf_counter()
    results = {}
    with tracking.stage_run("demo", run_name="demo", params={"size": size, "seed": seed,
                                                             "out": str(out.resolve())}):
        with tracking.stage_run("corpus", run_name="corpus",
                                params={"size": size, "seed": seed}):
            t0 = time.perf_counter()
            manifest = build_corpus(out / "corpus", size=size, seed=seed)
            mlflow.log_artifact(str(manifest))
            videos = json.loads(manifest.read_text())["videos"]
            size_mb = sum(p.stat().st_size for p in (out / "corpus").rglob("*") if p.is_file())
            mlflow.log_metrics({"videos": len(videos), "corpus_mb": size_mb / 2**20,
                                "seconds": time.perf_counter() - t0})
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
