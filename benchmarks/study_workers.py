"""Wall time of one tiny study (a grid of 2 datasets x BCE and triplet, a data-limited point,
the matrix: 5 trainings, 2 evaluations) run in one process, and as tasks of a local Dask
cluster of 1 and of 2 workers, side by side in one run, each in a fresh SQLite store on the
same extracted faces; and what running as a task costs: the study on 1 worker against the
same study in one process, per task, and the seconds a Dask local cluster takes to start.
Prints one JSON line.

    .venv/bin/python benchmarks/study_workers.py [--iters 20]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import yaml


def study(iters: int) -> dict:
    return {
        "name": "bench", "train_datasets": ["ff", "celebdf"],
        "test_datasets": ["ff", "celebdf"], "losses": ["bce", "triplet"],
        "augmentations": ["NONE"],
        "train": {"model": "test_efficientnet", "pretrained": "none", "size": 64,
                  "batch_size": 4, "triplets": 2, "max_iters": iters,
                  "val_interval": max(1, iters // 2), "val_size": 8, "workers": 0},
        "evaluate": {"mds": "none"},
        "data_limited": {"dataset": "ff", "videos_per_class": [2], "losses": ["bce"]},
        "promote": False}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=20, help="iterations of each phase")
    args = parser.parse_args()
    from deepfake_mlflow import console
    from deepfake_mlflow.corpus import build_corpus
    from deepfake_mlflow.stages import extract, index, reproduce
    from deepfake_mlflow.study import engine

    console.setup()
    work = Path(tempfile.mkdtemp(prefix="study-workers-"))
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{work}/prep.db"
    os.environ["DEEPFAKE_MLFLOW_WORKSPACE"] = str(work / "workspace")
    build_corpus(work / "corpus", size=6, seed=0)
    for dataset in ("ff", "celebdf"):
        videos = str(work / "workspace" / dataset / "videos.parquet")
        index.run(index.IndexConfig(dataset, str(work / "corpus" / dataset), out=videos))
        extract.run(extract.ExtractConfig(dataset, str(work / "corpus" / dataset),
                                          index=videos, frames=8, size=64, workers=2,
                                          progress=False))
    path = work / "bench.yaml"
    path.write_text(yaml.safe_dump(study(args.iters)))
    times, tasks = {}, 0
    for where in ("", "local:1", "local:2"):
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{work}/{where or 'one'}.db"
        started = time.perf_counter()
        result = reproduce.run(reproduce.ReproduceConfig(str(path), scheduler=where,
                                                         report=str(work / "report")))
        times[where or "in_process"] = time.perf_counter() - started
        assert result["failed"] == [] and result["counts"]["trained"] == 5
        tasks = 7  # 5 trainings, the matrix, the data-limited evaluation
    started = time.perf_counter()
    client, cluster = engine.connect("local:1")
    cluster_start = time.perf_counter() - started
    client.close()
    cluster.close()
    print(json.dumps({
        "benchmark": "study_workers", "cores": os.cpu_count(), "tasks": tasks,
        "iterations_per_phase": args.iters,
        "in_process_s": round(times["in_process"], 1),
        "one_worker_s": round(times["local:1"], 1), "two_workers_s": round(times["local:2"], 1),
        "speedup_two_workers": round(times["local:1"] / times["local:2"], 2),
        "local_cluster_start_s": round(cluster_start, 1),
        "overhead_per_task_s": round((times["local:1"] - times["in_process"]) / tasks, 2)}))


if __name__ == "__main__":
    main()
