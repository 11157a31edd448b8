"""Wall time of one tiny grid ablation (9 trials) with one worker against two, measured
side by side in one run on a real PostgreSQL (Optuna storage) and a real MLflow tracking
server on it (started as the team-scale tests start them). Prints one JSON line.

    .venv/bin/python benchmarks/ablation_workers.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import services  # noqa: E402  (tests/services.py: PostgreSQL and tracking servers)


def main() -> None:
    from deepfake_mlflow.corpus import build_corpus
    from deepfake_mlflow.stages import extract, index

    work = Path(tempfile.mkdtemp(prefix="ablation-workers-"))
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{work}/prep.db"
    build_corpus(work / "corpus", size=6, seed=0)
    videos = str(work / "ff" / "videos.parquet")
    index.run(index.IndexConfig("ff", str(work / "corpus" / "ff"), out=videos))
    extract.run(extract.ExtractConfig("ff", str(work / "corpus" / "ff"), index=videos,
                                      frames=8, size=64, workers=2, progress=False))
    faces = work / "ff" / "faces.parquet"
    with services.postgres() as postgres, services.tracking_server(
            services.create_database(postgres, "mlflow"), work) as server:
        env = {**os.environ, "MLFLOW_TRACKING_URI": server}
        times = {}
        for workers in (1, 2):
            name = f"bench-{workers}"
            storage = services.create_database(postgres, name)
            ablation = [sys.executable, "-m", "deepfake_mlflow.cli", "ablation", "ff",
                        "--faces", str(faces), "--study", name, "--storage", storage,
                        "--model", "test_efficientnet", "--pretrained", "none", "--size", "64",
                        "--batch-size", "4", "--max-iters", "20", "--val-interval", "10",
                        "--val-size", "8", "--workers", "0", "--test-datasets", "none"]
            worker = [sys.executable, "-m", "deepfake_mlflow.cli", "worker", name,
                      "--storage", storage]
            started = time.perf_counter()
            processes = [subprocess.Popen(ablation, env=env, cwd=work,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
            processes += [subprocess.Popen(worker, env=env, cwd=work, stdout=subprocess.DEVNULL,
                                           stderr=subprocess.DEVNULL)
                          for _ in range(workers - 1)]
            assert all(p.wait() == 0 for p in processes)
            times[workers] = time.perf_counter() - started
    print(json.dumps({"benchmark": "ablation_workers", "trials": 9, "cores": os.cpu_count(),
                      "one_worker_s": round(times[1], 1), "two_workers_s": round(times[2], 1),
                      "speedup": round(times[1] / times[2], 2)}))


if __name__ == "__main__":
    main()
