"""The index step end to end: CLI, a real SQLite MLflow store, `mlflow run`."""

from __future__ import annotations

import os
import re
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

    tracking.store.configure()
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


def _mlflow_run(entry: str, params: dict, cwd: Path, *extra: str):
    # `mlflow run --env-manager local` runs `python` from PATH: this environment's, first
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{cwd}/mlflow.db",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    argv = [str(Path(sys.executable).parent / "mlflow"), "run", str(ROOT), "-e", entry,
            "--env-manager", "local", *extra]
    for name, value in params.items():
        argv += ["-P", f"{name}={value}"]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=cwd)
    assert done.returncode == 0, done.stderr[-2000:]
    mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])
    return done


@pytest.mark.integration  # `mlflow run` in processes of their own
def test_mlflow_run_entry_points_land_where_the_command_lines_runs_do(tmp_path, place):
    """The run `mlflow run` makes is the entry point's own run, named and tagged as the
    stage; the index an extract makes on the way is its child run. Without
    --experiment-name the run lands in Default, and the command says how to keep them
    together."""
    make_folder_dataset(tmp_path / "data", place, n=3)
    _mlflow_run("extract", {"dataset": "folder", "root": tmp_path / "data",
                            "out": tmp_path / "faces", "index": tmp_path / "videos.parquet"},
                tmp_path, "--experiment-name", "deepfake-extract")
    runs = mlflow.search_runs(experiment_names=["deepfake-extract"], output_format="list")
    (extract,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    (index,) = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == extract.info.run_id]
    assert len(runs) == 2
    assert extract.info.run_name == "extract-folder" and extract.data.tags["stage"] == "extract"
    assert extract.data.tags["entry_point"] == "extract"
    assert extract.data.params["root"] == str(tmp_path / "data")  # MLproject's param
    assert "frames" in extract.data.params  # and the stage's own options
    assert index.info.run_name == "index-folder" and index.data.tags["stage"] == "index"
    assert extract.info.status == index.info.status == "FINISHED"
    assert (tmp_path / "faces" / "faces.parquet").is_file()
    experiment = mlflow.get_experiment_by_name("deepfake-extract")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    assert mlflow.get_experiment_by_name("deepfake-index") is None  # nothing elsewhere

    # no --experiment-name: MLflow's Default, the run still the stage's, and a hint
    done = _mlflow_run("index", {"dataset": "folder", "root": tmp_path / "data",
                                 "out": tmp_path / "other.parquet", "seed": 3}, tmp_path)
    (run,) = mlflow.search_runs(experiment_names=["Default"], output_format="list")
    assert run.info.run_name == "index-folder" and run.data.tags["stage"] == "index"
    assert run.data.params["seed"] == "3" and run.info.status == "FINISHED"
    assert "pass `--experiment-name deepfake-index` to `mlflow run`" in done.stderr
    assert (tmp_path / "other.parquet").is_file()


def test_corpus_size_below_the_minimum_is_refused_before_any_work(tmp_path, capsys):
    assert main(["corpus", str(tmp_path / "c"), "--size", "3"]) == 2
    assert "at least 6 real videos" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()


def test_help_reads_as_a_person_expects(capsys):
    """One spelling per option (the underscore form MLproject passes still works), switches
    shown as switches, the augmentation names spelled out, an example in every command's
    help, and --version."""
    from deepfake_mlflow import stages
    from deepfake_mlflow.augment import AUGMENTATIONS
    from deepfake_mlflow.cli import build_parser

    for name in stages.STAGES:
        with pytest.raises(SystemExit) as done:
            main([name, "--help"])
        assert done.value.code == 0
        text = capsys.readouterr().out
        assert f"examples:\n    deepfake-mlflow {name}" in text or "torchrun" in text, name
        assert not re.search(r"--[a-z0-9]+_", text), name  # no --name_with_underscores
        assert "[--probe [PROBE]]" not in text and "--optuna [OPTUNA]" not in text
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    assert all(name in text for name in AUGMENTATIONS) and "SELECTED (= HF+BC+HSV+JPEG)" in text
    with pytest.raises(SystemExit):
        main(["index", "--help"])
    assert "[--probe]" in capsys.readouterr().out
    args = build_parser().parse_args(["train", "ff", "--batch_size", "8", "--val-size", "16"])
    assert args.batch_size == 8 and args.val_size == 16
    assert build_parser().parse_args(["index", "ff", "r", "--probe", "false"]).probe is False
    assert build_parser().parse_args(["index", "ff", "r", "--probe"]).probe is True
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.startswith("deepfake-mlflow ")


def test_a_moved_store_is_named_and_relocated(tmp_path, place, capsys, monkeypatch):
    """A study folder (mlflow.db, mlartifacts/) moved elsewhere: any command says so once,
    `relocate` points the artifact locations at the new folder, and the artifacts open
    from there once the old folder is gone."""
    import shutil
    make_folder_dataset(tmp_path / "data", place, n=3)
    old, new = tmp_path / "old", tmp_path / "elsewhere" / "new"
    old.mkdir()
    monkeypatch.chdir(old)
    assert main(["index", "folder", str(tmp_path / "data"), "--out",
                 str(tmp_path / "videos.parquet")]) == 0
    new.parent.mkdir()
    shutil.move(old, new)
    monkeypatch.chdir(new)
    monkeypatch.delenv("MLFLOW_TRACKING_URI")  # MLflow set it: a new process would not have it
    capsys.readouterr()
    assert main(["registry", "list"]) == 0
    err = capsys.readouterr().err
    assert f"the tracking store {new / 'mlflow.db'} was made in {old}" in err
    assert "no longer exists" in err and "deepfake-mlflow relocate" in err
    assert main(["relocate"]) == 0
    out, err = capsys.readouterr()
    assert f"moved from {old} to {new}" in out and "1 runs" in out and err == ""
    tracking.store.configure()
    (run,) = mlflow.search_runs(experiment_names=["deepfake-index"], output_format="list")
    assert run.info.artifact_uri.startswith((new / "mlartifacts").as_uri())
    local = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="index",
                                                dst_path=str(tmp_path / "got"))
    assert (Path(local) / "videos.parquet").is_file()
    assert main(["relocate"]) == 0 and "nothing to do" in capsys.readouterr().out
    assert main(["registry", "list"]) == 0 and capsys.readouterr().err == ""


def test_a_stopped_coordinator_ends_the_runs_its_workers_were_running():
    """Ctrl-C of a study on a cluster: every RUNNING run beneath the study's run, at any
    depth (a triplet's phase under its parent), is ended KILLED with the reason; a finished
    one and a RUNNING run of another study are left alone. (The interrupt itself is
    study.engine.on_cluster's; here the runs a worker would have left, made by hand.)"""
    client = mlflow.MlflowClient()
    experiment = tracking.experiments.experiment_id("reproduce")
    study = client.create_run(experiment, run_name="study").info.run_id
    other = client.create_run(experiment, run_name="another study").info.run_id

    def child(parent: str, name: str) -> str:
        return client.create_run(experiment, run_name=name, tags={
            "mlflow.parentRunId": parent, "host": "worker-1", "pid": "1"}).info.run_id

    training, phase, done = child(study, "ff-triplet-none"), None, child(study, "ff-bce-none")
    phase = child(training, "triplet:ff-triplet-none")
    client.set_terminated(done, "FINISHED")
    elsewhere = child(other, "ff-bce-none")
    ended = tracking.runs.end_descendants(study, "the coordinator was stopped")
    assert sorted(ended) == sorted([training, phase])
    for run_id in (training, phase):
        run = client.get_run(run_id)
        assert run.info.status == "KILLED"
        assert run.data.tags["ended_by"] == "the coordinator was stopped"
    assert client.get_run(done).info.status == "FINISHED"
    assert client.get_run(elsewhere).info.status == "RUNNING"
    assert client.get_run(study).info.status == "RUNNING"  # its own process ends it
