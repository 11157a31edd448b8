"""The index step end to end: CLI, a real SQLite MLflow store, `mlflow run`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from deepfake_mlflow import tracking
from deepfake_mlflow.cli import main

ROOT = Path(__file__).resolve().parents[1]


def make_folder_dataset(root, place, n=10):
    for i in range(n):
        place(root, f"real/r{i}.mp4", f"fake/f{i}.mp4")


def test_index_cli_writes_parquet_and_one_tracked_run(tmp_path, place, capsys):
    make_folder_dataset(tmp_path / "data", place)
    out = tmp_path / "videos.parquet"
    assert main(["index", "folder", str(tmp_path / "data"), "--out", str(out), "--probe"]) == 0
    assert "train" in capsys.readouterr().out
    frame = pd.read_parquet(out)
    assert len(frame) == 20 and frame["frames"].notna().all()

    tracking.configure()
    assert mlflow.get_tracking_uri() == f"sqlite:///{tmp_path / 'mlflow.db'}"  # ./mlflow.db
    assert (tmp_path / "mlflow.db").is_file()
    exp = mlflow.get_experiment_by_name("deepfake-index")
    assert exp.artifact_location.endswith("mlartifacts/deepfake-index")
    runs = mlflow.search_runs([exp.experiment_id], output_format="list")
    assert len(runs) == 1
    run = runs[0]
    assert run.data.params["dataset"] == "folder"
    assert run.data.params["split_rule"] == "seeded-70-15-15"
    assert run.data.tags["dataset"] == "folder" and run.data.tags["stage"] == "index"
    assert run.data.metrics["videos_train_real"] == 7
    inputs = run.inputs.dataset_inputs
    assert len(inputs) == 1 and inputs[0].dataset.name == "folder-videos"
    assert inputs[0].tags[0].value == "index"
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id)}
    assert {"split_summary.csv", "index"} <= artifacts
    summary = pd.read_csv(mlflow.artifacts.download_artifacts(
        run_id=run.info.run_id, artifact_path="split_summary.csv"))
    assert summary["videos"].sum() == 20


def test_bad_root_is_one_line_and_exit_code_2(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["index", "dfdc", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "is not a dfdc dataset root: expected dfdc_train_part_<N>/" in err[0]
    assert not (tmp_path / "mlflow.db").exists() or not mlflow.search_runs(
        search_all_experiments=True).shape[0]


def test_malformed_list_through_the_cli_names_file_and_line(tmp_path, place, capsys):
    root = tmp_path / "celeb"
    place(root, "Celeb-real/id0_0000.mp4", "Celeb-synthesis/id0_id1_0000.mp4",
          "YouTube-real/00000.mp4")
    (root / "List_of_testing_videos.txt").write_text("1 YouTube-real/00000.mp4\n2 x.mp4\n")
    assert main(["index", "celebdf", str(root)]) == 2
    assert "List_of_testing_videos.txt:2" in capsys.readouterr().err
    assert not (tmp_path / "workspace" / "celebdf" / "videos.parquet").exists()


def test_console_script_runs_as_a_process(tmp_path, place):
    make_folder_dataset(tmp_path / "data", place, n=4)
    done = subprocess.run([sys.executable, "-m", "deepfake_mlflow.cli", "index", "folder",
                           str(tmp_path / "nope")], capture_output=True, text=True)
    assert done.returncode == 2 and "Traceback" not in done.stderr


@pytest.mark.integration  # `mlflow run` in a process of its own
def test_mlflow_run_index_entry_point(tmp_path, place):
    make_folder_dataset(tmp_path / "data", place, n=4)
    # `mlflow run --env-manager local` runs `python` from PATH: this environment's, first
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/mlflow.db",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        [str(Path(sys.executable).parent / "mlflow"), "run", str(ROOT), "-e", "index",
         "-P", "dataset=folder", "-P", f"root={tmp_path / 'data'}",
         # options MLproject does not declare pass through as --name value
         "-P", f"out={tmp_path / 'videos.parquet'}", "-P", "seed=3", "--env-manager", "local",
         "--experiment-name", "deepfake-index"],
        capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])
    runs = mlflow.search_runs(experiment_names=["deepfake-index"], output_format="list")
    assert len(runs) == 1  # the run `mlflow run` made is the one the step filled
    assert runs[0].data.params["dataset"] == "folder" and runs[0].data.params["seed"] == "3"
    assert runs[0].data.params["root"] == str(tmp_path / "data")  # MLproject params + ours
    assert runs[0].info.status == "FINISHED"
    assert (tmp_path / "videos.parquet").is_file()


def test_corpus_size_below_the_minimum_is_refused_before_any_work(tmp_path, capsys):
    assert main(["corpus", str(tmp_path / "c"), "--size", "3"]) == 2
    assert "at least 6 real videos" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()
