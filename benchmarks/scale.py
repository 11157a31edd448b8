"""How the project's costs grow with the data and the store: synthetic DFDC-shaped inputs of
growing size (32 faces a video, 50 parts), and stores of growing numbers of training-shaped
runs (a training and its evaluation each, tags, params and metrics as the study logs them).

    python benchmarks/scale.py [--rows 100000,400000] [--runs 200,800] [--old]
                               [--startup-from workspace/ff/faces.parquet]

For each size: the seconds of the faces index's assembly from per-video records (and its
peak of Python memory, tracemalloc), of logging a faces index as a run's dataset input, the
bytes a training's dataset sends to each loader worker, and, per store size, the seconds of
reading a study, of the report's matrix over it and of promote's search. With --old, the
dataset input is also logged the way MLflow does by default (schema and digest from every
cell), and the loader's payload also measured as a list of path strings, side by side.
With --startup-from (a real faces index whose crops exist, e.g. the demo's), its rows are
repeated under new video keys up to each size, and a real `train --max-iters 1` runs on it
with 0 and with 2 loader workers: seconds of the whole command (start-up, one step, a small
validation, the model logged) and the peak memory of the command and of each loader worker.
Each figure gets the growth exponent between the smallest and largest size (1: linear).
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import math
import pickle
import shutil
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path

import pandas as pd

FACES_PER_VIDEO = 32
PARTS = 50
DATASETS = ("ff", "dfd", "dfdc", "celebdf")


def keys(videos: int) -> list[str]:
    return [f"dfdc/dfdc_train_part_{i % PARTS}/{i:06d}abcd" for i in range(videos)]


def write_records(root: Path, videos: int) -> pd.DataFrame:
    """Per-video records as extract writes them, and the video index naming them."""
    rows = []
    for i, key in enumerate(keys(videos)):
        folder = root / key
        folder.mkdir(parents=True)
        faces = [{"frame": f * 9, "timestamp": f * 0.3, "x": 10.0, "y": 12.0, "w": 90.0,
                  "h": 90.0, "score": 0.9, "face_path": f"{key}/{f * 9:06d}.jpg"}
                 for f in range(FACES_PER_VIDEO)]
        (folder / "record.json").write_text(json.dumps(
            {"key": key, "status": "ok", "reason": "", "rows": faces}))
        rows.append({"key": key, "path": f"{key}.mp4", "label": i % 2,
                     "split": "train" if i % 10 < 7 else "test", "dataset": "dfdc",
                     "subset": key.split("/")[1], "method": "dfdc", "source": "",
                     "group": key, "status": "ok", "reason": ""})
    return pd.DataFrame(rows)


def assemble(videos: pd.DataFrame, root: Path) -> tuple[pd.DataFrame, float, float]:
    from deepfake_mlflow.faces.index import faces_index
    tracemalloc.start()
    started = time.perf_counter()
    faces = faces_index(videos, root)
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return faces, seconds, peak / 2**20


def dataset_input(faces: pd.DataFrame, source: Path, old: bool) -> dict:
    import mlflow

    from deepfake_mlflow import tracking
    out = {}
    with mlflow.start_run():
        started = time.perf_counter()
        tracking.logs.log_index_input(faces, str(source), "dfdc-faces", "train")
        out["dataset_input_s"] = time.perf_counter() - started
        started = time.perf_counter()  # a triplet training's second phase, same process
        tracking.logs.log_index_input(faces, str(source), "dfdc-faces", "train")
        out["dataset_input_again_s"] = time.perf_counter() - started
        if old:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                started = time.perf_counter()
                dataset = mlflow.data.from_pandas(faces, source=str(source), name="old",
                                                  targets="label")
                mlflow.log_input(dataset, context="old")
                out["dataset_input_mlflow_default_s"] = time.perf_counter() - started
    return out


def loader_payload(faces: pd.DataFrame, root: Path, old: bool) -> dict:
    from deepfake_mlflow.train.data import FaceCrops
    crops = FaceCrops(faces[faces["face_path"] != ""], root, 64)
    out = {"worker_payload_mb": len(pickle.dumps(crops)) / 2**20}
    if old:
        strings = [str(root / p) for p in faces["face_path"]]
        out["worker_payload_path_list_mb"] = len(pickle.dumps(strings)) / 2**20
    return out


def fill_store(runs: int) -> str:
    """A study parent with `runs` trainings (and as many evaluations) under it."""
    import mlflow
    from mlflow.entities import LoggedModelOutput, Metric, Param, RunTag

    client = mlflow.MlflowClient()
    experiment = client.create_experiment(f"deepfake-scale-{runs}")
    parent = client.create_run(experiment, tags={"stage": "reproduce", "study": "scale"},
                               run_name="reproduce-scale")
    now = int(time.time() * 1000)
    for i in range(runs):
        dataset, seed = DATASETS[i % 4], i // 4
        tags = {"stage": "train", "final": "true", "dataset": dataset, "loss": "bce",
                "augment": "none", "seed": str(seed), "model": "efficientnet_b4",
                "mlflow.parentRunId": parent.info.run_id}
        train = client.create_run(experiment, tags=tags, run_name=f"{dataset}-bce-none-s{seed}")
        metrics = [Metric("best_val_loss", 0.5 + (i % 97) / 100, now, 0)]
        metrics += [Metric(f"{k}/{t}", 0.7, now, 0) for t in DATASETS
                    for k in ("auc_frame", "auc_video", "auc_frame_low", "auc_frame_high",
                              "videos")]
        params = [Param(k, str(v)) for k, v in {"lr": 1e-4, "batch_size": 32, "size": 256,
                                                 "seed": seed, "train_videos": 0}.items()]
        client.log_batch(train.info.run_id, metrics=metrics, params=params)
        model = client.create_logged_model(experiment, source_run_id=train.info.run_id)
        client.log_outputs(train.info.run_id, [LoggedModelOutput(model.model_id, 0)])
        client.set_terminated(train.info.run_id)
        evaluation = client.create_run(experiment, run_name=f"eval:{train.info.run_name}", tags={
            "stage": "evaluate", "train_run_id": train.info.run_id,
            "mlflow.parentRunId": parent.info.run_id})
        client.log_batch(evaluation.info.run_id, metrics=metrics[1:],
                         tags=[RunTag("dataset", dataset)])
        client.set_terminated(evaluation.info.run_id)
    client.set_terminated(parent.info.run_id)
    return parent.info.run_id


def store_queries(parent: str, old: bool) -> dict:
    from dashboards import store
    from deepfake_mlflow import queries, registry
    started = time.perf_counter()
    study = store.load(run_id=parent)
    loaded = time.perf_counter() - started
    started = time.perf_counter()
    matrix = store.matrix_rows(study)
    built = time.perf_counter() - started
    started = time.perf_counter()
    best = registry.best_runs()  # promote's search: the store orders, a few runs read
    out = {"study_load_s": loaded, "report_matrix_s": built,
           "promote_search_s": time.perf_counter() - started}
    assert len(matrix) and len(best) == len(DATASETS)
    if old:  # every final training read, the best chosen here (before)
        started = time.perf_counter()
        found = queries.final_trainings(status="FINISHED")
        out["promote_search_every_run_s"] = time.perf_counter() - started
        assert len(found) == len(study.stage("train"))
    return out


def repeated_index(source: Path, rows: int, out: Path) -> Path:
    """A faces index of `rows` rows: the source's rows again and again under new keys, every
    row still pointing at a real crop."""
    faces = pd.read_parquet(source)
    copies = -(-rows // len(faces))
    table = pd.concat([faces.assign(key=faces["key"].astype(str) + f"-x{i}")
                       for i in range(copies)], ignore_index=True).iloc[:rows]
    table.to_parquet(out, index=False)
    return out


def training_startup(index: Path, workers: int, store: Path) -> dict:
    """Seconds and peak memory (MB) of a real one-step training on a faces index, the
    command's own and its largest loader worker's (sampled every 50 ms)."""
    import os
    import subprocess
    import sys

    import psutil
    command = [sys.executable, "-m", "deepfake_mlflow.cli", "train", "ff", "--faces",
               str(index), "--model", "test_efficientnet", "--pretrained", "none",
               "--size", "64", "--batch-size", "4", "--max-iters", "1", "--val-interval", "1",
               "--val-size", "8", "--workers", str(workers)]
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{store}"}
    started = time.perf_counter()
    process = psutil.Popen(command, env=env, cwd=store.parent, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    main_peak = worker_peak = 0
    while process.poll() is None:
        try:
            main_peak = max(main_peak, process.memory_info().rss)
            for child in process.children(recursive=True):
                worker_peak = max(worker_peak, child.memory_info().rss)
        except psutil.Error:
            pass
        time.sleep(0.05)
    assert process.returncode == 0, f"train failed on {index}"
    out = {f"train_{workers}_workers_s": time.perf_counter() - started,
           f"train_{workers}_workers_peak_mb": main_peak / 2**20}
    if workers:
        out[f"train_{workers}_workers_worker_peak_mb"] = worker_peak / 2**20
    return out


def exponent(sizes: list[int], values: list[float]) -> float | None:
    if len(sizes) < 2 or min(values) <= 0:
        return None
    return round(math.log(values[-1] / values[0]) / math.log(sizes[-1] / sizes[0]), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="100000,400000", help="faces-index sizes")
    parser.add_argument("--runs", default="200,800", help="trainings in the store")
    parser.add_argument("--old", action="store_true", help="also the former ways, side by side")
    parser.add_argument("--startup-from", default="", help="a real faces index: time a one-step "
                                                           "training on it at each size")
    args = parser.parse_args()
    import mlflow

    from deepfake_mlflow import console
    console.setup()
    scratch = Path(tempfile.mkdtemp(prefix="scale-"))
    result = {"benchmark": "scale", "faces_per_video": FACES_PER_VIDEO, "rows": {}, "runs": {}}
    try:
        mlflow.set_tracking_uri(f"sqlite:///{scratch}/mlflow.db")
        sizes = [int(v) for v in args.rows.split(",")]
        for rows in sizes:
            root = scratch / f"faces-{rows}"
            videos = write_records(root, rows // FACES_PER_VIDEO)
            faces, seconds, peak = assemble(videos, root)
            source = root / "faces.parquet"
            faces.to_parquet(source)
            found = {"faces_index_s": seconds, "faces_index_python_peak_mb": peak,
                     **dataset_input(faces, source, args.old),
                     **loader_payload(faces, root, args.old)}
            shutil.rmtree(root)
            if args.startup_from:
                index = repeated_index(Path(args.startup_from).resolve(), rows,
                                       Path(args.startup_from).resolve().parent
                                       / f"faces-scale-{rows}.parquet")
                try:
                    for workers in (0, 2):
                        store = scratch / f"train-{rows}-{workers}" / "mlflow.db"
                        store.parent.mkdir()
                        found.update(training_startup(index, workers, store))
                finally:
                    index.unlink()
            result["rows"][rows] = {k: round(v, 3) for k, v in found.items()}
        counts = [int(v) for v in args.runs.split(",")]
        for runs in counts:
            mlflow.set_tracking_uri(f"sqlite:///{scratch}/store-{runs}.db")
            found = store_queries(fill_store(runs), args.old)
            result["runs"][runs] = {k: round(v, 3) for k, v in found.items()}
        growth = {}
        for kind, table, scale in (("rows", result["rows"], sizes),
                                   ("runs", result["runs"], counts)):
            for name in table[scale[0]]:
                growth[name] = exponent(scale, [table[s][name] for s in scale])
        result["growth_exponent"] = growth
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
