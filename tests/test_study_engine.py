"""A study on a Dask cluster (study.engine): two real local worker processes (Dask's own
LocalCluster), one killed in the middle of a training; the study's runs, their order and
its tables match the same study run in one process. And `reproduce --plan`."""

from __future__ import annotations

import os
import re
import signal
import threading
import time

import mlflow
import numpy as np
import pytest
import yaml

from deepfake_mlflow.cli import main
from deepfake_mlflow.stages import reproduce
from deepfake_mlflow.tracking.store import configure
from deepfake_mlflow.stages.reproduce import ReproduceConfig
from deepfake_mlflow.study import graph
from deepfake_mlflow.study.plan import StudyPlan
from deepfake_mlflow.tracking.runs import PID_TAG
from helpers import study_in_workspace
from test_reproduce import TINY_STUDY

# reproduce's tiny study on two training sets: a grid of 2 datasets x 2 losses, a
# data-limited point, the matrix; trainings of 4 iterations, long enough to kill one
STUDY = {**TINY_STUDY, "name": "fan-out", "train_datasets": ["ff", "celebdf"],
         "train": {**TINY_STUDY["train"], "max_iters": 4, "val_interval": 2},
         "promote": False}


@pytest.fixture
def study_file(tmp_path, faces_ff, faces_celebdf):
    return study_in_workspace(tmp_path, STUDY, faces_ff, faces_celebdf)


def test_the_graph_orders_a_triplet_after_its_bce_and_the_matrix_after_the_grid(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(STUDY))
    tasks = graph.build(StudyPlan.load(path))
    keys = [t.key for t in tasks]
    by_key = {t.key: t for t in tasks}
    assert by_key["train ff, triplet, none"].needs == ("train ff, bce, none",)
    matrix = next(t for t in tasks if t.kind == graph.MATRIX)
    assert matrix.partial and len(matrix.needs) == 4  # the grid: 2 datasets x 2 losses
    limited = by_key["data-limited ff, bce, 2 videos per class"]
    assert limited.needs == ("train ff, bce, none, 2 videos per class",)
    for task in tasks:  # every task after what it needs: the one-process order
        assert all(keys.index(need) < keys.index(task.key) for need in task.needs)
    assert sum(t.kind == graph.TRAIN for t in tasks) == 5 and all(
        t.gpu == (t.kind == graph.TRAIN) for t in tasks)


def study_runs(uri: str) -> list:
    client = mlflow.MlflowClient(uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    return client.search_runs(experiments, max_results=10_000)


def shape(runs: list) -> list:
    """What a study's runs are, whatever store they are in: names, stages, what they train."""
    keep = ("stage", "dataset", "loss", "augment", "phase", "final", "seed")
    return sorted((r.info.run_name, r.info.status, tuple(
        (k, r.data.tags.get(k, "")) for k in keep)) for r in runs)


def kill_a_training_worker(uri: str, killed: list, stop: threading.Event) -> None:
    """SIGKILL the worker process of the first training seen running (its pid tag)."""
    client = mlflow.MlflowClient(uri)
    while not stop.is_set() and not killed:
        try:
            experiments = [e.experiment_id for e in client.search_experiments()]
            running = client.search_runs(experiments, "tags.stage = 'train' and "
                                                      "attributes.status = 'RUNNING'")
        except Exception:  # noqa: BLE001 - the store is being created
            running = []
        for run in running:
            pid = int(run.data.tags.get(PID_TAG, "0") or 0)
            if pid and pid != os.getpid():
                os.kill(pid, signal.SIGKILL)
                killed.append(run.info.run_id)
                return
        time.sleep(0.1)


@pytest.mark.slow
def test_a_study_on_two_workers_matches_one_process_and_survives_a_killed_worker(
        study_file, tmp_path, monkeypatch, capsys):
    one = f"sqlite:///{tmp_path / 'one-process.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", one)
    configure()  # the test is the entry point, as the command line is
    alone = reproduce.run(ReproduceConfig(str(study_file)))
    assert alone["failed"] == []
    assert main(["reproduce", "--study", str(study_file), "--plan"]) == 0
    planned = capsys.readouterr().out  # after the study, --plan sees every task done
    assert "0 trainings to run, 5 done; 0 evaluations to run, 2 done" in planned
    assert re.search(r"train ff, triplet, none +done \(run [0-9a-f]{32}\)", planned)

    many = f"sqlite:///{tmp_path / 'two-workers.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", many)
    configure()
    killed, stop = [], threading.Event()
    killer = threading.Thread(target=kill_a_training_worker, args=(many, killed, stop))
    killer.start()
    try:
        spread = reproduce.run(ReproduceConfig(str(study_file), scheduler="local:2"))
    finally:
        stop.set()
        killer.join()
    assert spread["failed"] == [] and killed, "a worker was killed during a training"
    assert spread["counts"] == alone["counts"] == {"trained": 5, "reused": 0,
                                                   "reused_evaluations": 0}
    runs = study_runs(many)
    # nothing lost, nothing doubled: the killed training resumed in its own run
    assert shape(runs) == shape(study_runs(one))
    assert mlflow.MlflowClient(many).get_run(killed[0]).info.status == "FINISHED"
    finals = [r for r in runs if r.data.tags.get("final") == "true"]
    assert len(finals) == 5 and len({r.data.tags["config_hash"] for r in finals}) == 5
    # the study's order held across workers: each triplet after its BCE, the matrix after
    # every training of the grid
    by_name = {r.info.run_name: r for r in runs}
    for dataset in ("ff", "celebdf"):
        bce, triplet = by_name[f"{dataset}-bce-none"], by_name[f"{dataset}-triplet-none"]
        assert triplet.info.start_time >= bce.info.end_time
        assert triplet.data.params["init"] == bce.info.run_id
    matrix = next(r for r in runs if r.info.run_name.startswith("matrix:"))
    assert matrix.info.start_time >= max(r.info.end_time for r in finals
                                         if r.data.params.get("train_videos") == "0")
    # every run of the study under its parent, as in one process
    parent = spread["parent_run_id"]
    assert all(r.data.tags.get("mlflow.parentRunId") for r in runs
               if r.info.run_id != parent)
    # the same tables: the same models (seeded), up to the last bits of floating-point
    # sums (torch uses both cores in one process, one per worker here), which can swap a
    # pair of near-equal scores: an AUC moves by one pair in a thousand at most
    columns = ["train_dataset", "loss", "test_set", "test_videos"]
    left = alone["matrix"].sort_values(columns[:3]).reset_index(drop=True)
    right = spread["matrix"].sort_values(columns[:3]).reset_index(drop=True)
    assert left[columns].equals(right[columns])
    assert np.allclose(left["auc_frame"], right["auc_frame"], atol=0.005)
    assert np.allclose(alone["data_limited"]["auc_frame"],
                       spread["data_limited"]["auc_frame"], atol=0.005)

    # a second invocation redoes nothing of what the cluster did (in this process: the
    # same tasks, reused by their config hashes and params wherever they ran)
    again = reproduce.run(ReproduceConfig(str(study_file)))
    assert again["counts"] == {"trained": 0, "reused": 5, "reused_evaluations": 2}
    assert len(study_runs(many)) == len(runs)  # and made no run


def test_plan_lists_every_task_and_what_is_done_and_creates_no_run(study_file, tmp_path,
                                                                   capsys):
    assert main(["reproduce", "--study", str(study_file), "--plan"]) == 0
    out = capsys.readouterr().out
    assert "5 trainings to run, 0 done; 2 evaluations to run, 0 done" in out
    assert re.search(r"train ff, triplet, none +to run +train ff, bce, none\n", out)
    assert re.search(r"evaluate 4 models on 2 test sets +waits +4 trainings of the grid", out)
    assert "nothing was started" in out
    assert not (tmp_path / "mlflow.db").exists()  # not even an empty store

    (study_file.parent / "workspace" / "celebdf" / "faces.parquet").unlink()
    main(["reproduce", "--study", str(study_file), "--plan"])
    out = capsys.readouterr().out
    assert re.search(r"train celebdf, bce, none +missing \(no faces of celebdf\)", out)
    assert "missing: faces of celebdf" in out


def test_a_failed_training_fails_what_needs_it_and_the_rest_of_the_study_finishes(
        tmp_path, faces_ff, faces_celebdf, capsys):
    import pandas as pd
    study = {**STUDY, "name": "one-fails", "test_datasets": ["ff"], "data_limited": None,
             "train": TINY_STUDY["train"]}  # 2 iterations: nothing here is killed
    path = study_in_workspace(tmp_path, study, faces_ff, faces_celebdf)
    index = tmp_path / "workspace" / "celebdf" / "faces.parquet"
    faces = pd.read_parquet(index)  # celebdf's training split left without fakes
    faces[~((faces["split"] == "train") & (faces["label"] == 1))].to_parquet(index)
    assert main(["reproduce", "--study", str(path)]) == 1
    err = capsys.readouterr().err
    assert "failed: train celebdf, bce, none: " in err and "no fake faces" in err
    assert ("failed: train celebdf, triplet, none: needs 'train celebdf, bce, none', "
            "which failed") in err
    finals = [r for r in study_runs(mlflow.get_tracking_uri())
              if r.data.tags.get("final") == "true"]
    assert sorted(r.info.run_name for r in finals) == ["ff-bce-none", "ff-triplet-none"]
    matrix = next(r for r in study_runs(mlflow.get_tracking_uri())
                  if r.info.run_name.startswith("matrix:"))
    assert matrix.info.status == "FINISHED"  # on the trainings that succeeded
