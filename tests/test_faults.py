"""The fault suite: bad values, bad files, concurrent writers, re-runs with other inputs,
killed processes and an unreachable tracking store, each tried through the command line
on real files and a real MLflow store.

For each case: the exit code, one line on stderr naming the problem, no traceback, and
nothing already done lost. FAULTS counts the cases; the suite's totals are printed by
test_the_suite_covers_thirty_kinds_of_fault.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from deepfake_mlflow import accel, assets, paths, queries, tracking
from deepfake_mlflow.cli import main
from deepfake_mlflow.corpus.video import read_frames, write_video
from helpers import free_port

FAULTS: list[str] = []  # every case run, by name


def refused(capsys, argv: list[str], *needles: str, code: int = 2) -> str:
    """Run the command; assert its exit code, one stderr line (argparse adds its usage
    line before its own one-line error) naming every needle, and no traceback."""
    FAULTS.append(" ".join(argv[:2]) + ": " + ", ".join(needles))
    capsys.readouterr()  # what earlier commands of the test printed
    try:
        rc = main(argv)
    except SystemExit as exit_:  # argparse's own refusal
        rc = exit_.code
    err = capsys.readouterr().err
    assert rc == code, err
    assert "Traceback" not in err
    lines = [line for line in err.strip().splitlines() if not line.startswith(
        ("usage:", "  ", "                "))]
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def talking_heads(root: Path, n: int = 2) -> Path:
    for i in range(n):
        for label in ("real", "fake"):
            (root / label).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(assets.path("single_face.mp4"), root / label / f"v{i}.mp4")
    return root


# --- values refused where they are parsed (the stage configs) ------------------------------
VALUE_CASES = [
    (["extract", "folder", "R", "--margin", "-2"], "--margin -2.0"),
    (["extract", "folder", "R", "--min-confidence", "2"], "--min-confidence 2.0"),
    (["extract", "folder", "R", "--workers", "-3"], "--workers -3"),
    (["extract", "folder", "R", "--size", "0"], "--size 0"),
    (["extract", "folder", "R", "--quality", "0"], "--quality 0"),
    (["extract", "folder", "R", "--frames", "0"], "--frames 0"),
    (["extract", "folder", "R", "--shard", "3/2"], "--shard '3/2'"),
    (["train", "ff", "--max-iters", "-5"], "--max-iters -5"),
    (["train", "ff", "--train-videos", "-1"], "--train-videos -1"),
    (["train", "ff", "--batch-size", "0"], "--batch-size 0"),
    (["train", "ff", "--batch-size", "7"], "half real, half fake"),
    (["train", "ff", "--val-interval", "0"], "--val-interval 0"),
    (["train", "ff", "--lr", "-1"], "--lr -1.0"),
    (["train", "ff", "--size", "0"], "--size 0"),
    (["train", "ff", "--precision", "fp8"], "invalid choice: 'fp8'"),
    (["train", "ff", "--size", "big"], "size: expected int, got 'big'"),
    (["evaluate", "m", "ff", "--scales", "2"], "--scales"),
    (["evaluate", "m", "ff", "--jpeg-qualities", "0"], "--jpeg-qualities"),
    (["index", "folder", "R", "--workers", "-1"], "--workers -1"),
    # round four: seeds in range wherever they are taken, the new doors' options
    (["train", "ff", "--seed", "4294967296"], "--seed 4294967296: expected seeds from 0 to"),
    (["train", "ff", "--seed", "99999999999999999999"], "--seed 99999999999999999999"),
    (["evaluate", "m", "ff", "--seed", "-1"], "--seed -1: expected seeds from 0 to"),
    (["ablation", "ff", "--seeds", "0,4294967296"], "--seeds (0, 4294967296)"),
    (["compare", "m1,m2", "ff", "--seed", "4294967296"], "--seed 4294967296"),
    (["compare", "m1", "ff"], "expected two or more models"),
    (["reproduce", "--scheduler", "local:0"], "--scheduler local:0: expected local:N, N >= 1"),
    (["reproduce", "--scheduler", "nowhere.json"], "no such scheduler file"),
    (["reproduce", "--scheduler", "head node:8786"], "expected tcp://HOST:PORT"),
    # the demo's doors of issue 32: split shares, test frames, a grid of some points
    (["index", "dfd", "R", "--split-shares", "3:1"], "split shares '3:1': expected train:val"),
    (["index", "dfd", "R", "--split-shares", "3:1:0"], "split shares '3:1:0'"),
    (["extract", "folder", "R", "--test-frames", "-1"], "--test-frames -1"),
    (["demo", "--test-frames", "-2"], "--test-frames -2"),
    (["ablation", "ff", "--augmentations", "hf,bc"], "--augmentations 'HF,BC': expected"),
    (["ablation", "ff", "--augmentations", "none,blur"], "--augmentations 'NONE,BLUR'"),
]


@pytest.mark.parametrize("argv, needle", VALUE_CASES)
def test_values_out_of_range_are_refused_before_any_work(argv, needle, capsys, tmp_path):
    refused(capsys, argv, needle)
    assert not list(tmp_path.glob("*.db")) or not mlflow.search_runs(search_all_experiments=True
                                                                     ).shape[0]


# --- files that cannot be parsed ---------------------------------------------------------
def test_non_utf8_list_and_csv_files_are_named(tmp_path, place, capsys):
    root = tmp_path / "celeb"
    place(root, "Celeb-real/id0_0000.mp4", "Celeb-synthesis/id0_id1_0000.mp4",
          "YouTube-real/00000.mp4")
    (root / "List_of_testing_videos.txt").write_bytes(b"1 YouTube-real/0\xff0000.mp4\n")
    refused(capsys, ["index", "celebdf", str(root)], "List_of_testing_videos.txt",
            "not UTF-8")
    folder = tmp_path / "folder"
    place(folder, "real/a.mp4", "fake/b.mp4")
    (tmp_path / "splits.csv").write_bytes(b"path,split\nreal/\xe9.mp4,train\n")
    refused(capsys, ["index", "folder", str(folder), "--split-csv",
                     str(tmp_path / "splits.csv")], "splits.csv", "not UTF-8")
    dfdc = tmp_path / "dfdc" / "dfdc_train_part_0"
    place(dfdc, "a.mp4")
    (dfdc / "metadata.json").write_bytes(b'{"a.mp4": {"label": "R\xffAL"}}')
    refused(capsys, ["index", "dfdc", str(tmp_path / "dfdc")], "metadata.json", "not UTF-8")


def test_a_split_csv_with_a_byte_order_mark_and_absent_files(tmp_path, place, capsys):
    FAULTS.append("index folder: split CSV with a BOM, listing absent files")
    folder = tmp_path / "folder"
    place(folder, "real/a.mp4", "fake/b.mp4")
    (tmp_path / "splits.csv").write_text("\ufeffpath,split\nreal/a.mp4,train\nfake/b.mp4,test\n"
                                         "fake/gone.mp4,val\n", encoding="utf-8")
    assert main(["index", "folder", str(folder), "--split-csv", str(tmp_path / "splits.csv"),
                 "--out", str(tmp_path / "videos.parquet")]) == 0
    frame = pd.read_parquet(tmp_path / "videos.parquet").set_index("path")
    assert frame.loc["fake/gone.mp4", "status"] == "missing"
    assert frame.loc["fake/gone.mp4", "split"] == "val"
    assert frame.loc["real/a.mp4", "status"] == "ok"
    assert "1 videos listed" in capsys.readouterr().err


def test_a_root_without_videos_is_refused(tmp_path, capsys):
    (tmp_path / "empty" / "real").mkdir(parents=True)
    (tmp_path / "empty" / "fake").mkdir()
    refused(capsys, ["index", "folder", str(tmp_path / "empty")], "no videos found")


def test_damaged_parquet_files_are_named(tmp_path, place, faces_ff, capsys):
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(pd.read_parquet(faces_ff).to_parquet()[:300])  # truncated
    place(tmp_path / "data", "real/a.mp4", "fake/b.mp4")
    refused(capsys, ["extract", "folder", str(tmp_path / "data"), "--index", str(broken)],
            "broken.parquet", "not a readable Parquet video index")
    refused(capsys, ["train", "ff", "--faces", str(broken)], "broken.parquet",
            "faces index")
    refused(capsys, ["evaluate", str(tmp_path), f"ff={broken}"], "broken.parquet")
    other = tmp_path / "other.parquet"
    pd.DataFrame({"a": [1]}).to_parquet(other)
    refused(capsys, ["train", "ff", "--faces", str(other)], "other.parquet",
            "lacks the columns")


def test_a_damaged_detector_model_is_named(tmp_path, place, capsys):
    place(tmp_path / "data", "real/a.mp4", "fake/b.mp4")
    bad = tmp_path / "blazeface.tflite"
    bad.write_bytes(assets.path("face_detection_short_range.tflite").read_bytes()[:5000])
    refused(capsys, ["extract", "folder", str(tmp_path / "data"), "--detector", str(bad),
                     "--workers", "1"], "blazeface.tflite", "MediaPipe cannot load")


def test_a_damaged_model_folder_is_named(tmp_path, capsys):
    from deepfake_mlflow.faces.extract import ExtractSettings
    from deepfake_mlflow.model import create, save_weights
    from deepfake_mlflow.scoring import ModelConfig

    folder = tmp_path / "model"
    folder.mkdir()
    save_weights(create("test_efficientnet", "none"), folder / "weights.safetensors")
    ModelConfig("test_efficientnet", 64, "weights.safetensors",
                ExtractSettings().as_params()).save(folder)
    (folder / "MLmodel").write_text("artifact_path: model\n")
    weights = (folder / "weights.safetensors").read_bytes()
    (folder / "weights.safetensors").write_bytes(weights[: len(weights) // 2])
    refused(capsys, ["evaluate", str(folder), f"ff={tmp_path / 'none.parquet'}"],
            "no faces index")  # test sets are checked before the model is read
    from deepfake_mlflow.scoring import Scorer
    with pytest.raises(Exception, match="weights.safetensors: not a readable safetensors"):
        Scorer.from_folder(folder, accel.Compute.resolve("cpu"))
    FAULTS.append("scorer: truncated weights")
    (folder / "model_config.json").write_text('{"model": "test_eff')
    with pytest.raises(Exception, match="model_config.json: not a model config"):
        Scorer.from_folder(folder, accel.Compute.resolve("cpu"))
    FAULTS.append("scorer: broken model_config.json")


def test_a_registered_model_of_another_project_is_named(capsys):
    """A sklearn model in the same registry: predict says it is not one of this project's
    detectors, in one line, instead of a traceback from deep in MLflow."""
    from sklearn.linear_model import LogisticRegression
    tracking.store.configure()
    with mlflow.start_run():
        mlflow.sklearn.log_model(LogisticRegression().fit([[0], [1]], [0, 1]), name="model",
                                 registered_model_name="churn")
    video = str(assets.path("single_face.mp4"))
    refused(capsys, ["predict", "models:/churn/1", video],
            "model models:/churn/1 is not a video detector of this project (sklearn model)")
    # (evaluate names it too: "no model_config.json among its artifacts", model_refs)


# --- extraction: concurrent writers, re-runs with other inputs, broken records -------------
def test_a_second_extract_of_the_same_faces_index_is_refused_at_once(tmp_path, place, capsys):
    place(tmp_path / "data", "real/a.mp4", "fake/b.mp4")
    out = tmp_path / "work"
    target = out / "faces.parquet"
    with paths.exclusive(target.with_suffix(".lock"), str(target)):  # the first writer
        started = time.perf_counter()
        refused(capsys, ["extract", "folder", str(tmp_path / "data"), "--index",
                         str(out / "videos.parquet"), "--out", str(out)],
                "faces.parquet is in use by process", "wait for it")
        assert time.perf_counter() - started < 10
    # the lock goes with its holder: the next extract runs
    assert main(["extract", "folder", str(tmp_path / "data"), "--index",
                 str(out / "videos.parquet"), "--out", str(out), "--workers", "1"]) == 0


def test_re_extracting_with_other_settings_or_another_root_is_refused(tmp_path, capsys):
    data = talking_heads(tmp_path / "data")
    out = tmp_path / "work"
    common = ["--index", str(out / "videos.parquet"), "--out", str(out), "--workers", "1",
              "--frames", "4", "--size", "64"]
    assert main(["extract", "folder", str(data), *common]) == 0
    before = pd.read_parquet(out / "faces.parquet")
    refused(capsys, ["extract", "folder", str(data), *common, "--size", "128", "--quality", "50"],
            "other settings", "size 64 -> 128", "quality 95 -> 50")
    other = talking_heads(tmp_path / "other")
    refused(capsys, ["extract", "folder", str(other), *common], f"indexes {data}",
            f"not {other}")
    pd.testing.assert_frame_equal(pd.read_parquet(out / "faces.parquet"), before)
    assert main(["extract", "folder", str(data), *common]) == 0  # same settings: resumes


def test_a_truncated_record_of_a_finished_video_is_redone(tmp_path):
    FAULTS.append("extract: truncated record.json")
    data = talking_heads(tmp_path / "data", n=1)
    out = tmp_path / "work"
    argv = ["extract", "folder", str(data), "--index", str(out / "videos.parquet"),
            "--out", str(out), "--workers", "1", "--frames", "4", "--size", "64"]
    assert main(argv) == 0
    record = next((out / "faces").rglob("record.json"))
    record.write_text(record.read_text()[:40])
    assert main(argv) == 0
    faces = pd.read_parquet(out / "faces.parquet")
    assert (faces["video_status"] == "ok").all() and len(faces) == 8
    assert record.read_text().endswith("}")


def test_a_disk_that_fills_up_during_extract_loses_nothing(tmp_path, monkeypatch, capsys):
    """Simulated (no tmpfs can be mounted here): the crop writes of the second video fail
    with ENOSPC. The stage stops with one line; the first video stays finished, the
    second has no record, and a re-run after space is freed extracts it with every crop."""
    import errno

    data = talking_heads(tmp_path / "data", n=1)
    out = tmp_path / "work"
    argv = ["extract", "folder", str(data), "--index", str(out / "videos.parquet"),
            "--out", str(out), "--workers", "1", "--frames", "4", "--size", "64"]
    real_write, written = Path.write_bytes, []

    def full_after_one_video(self, payload):
        if self.suffix == ".jpg":
            written.append(self)
            if len(written) > 4:
                raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(self, payload)

    monkeypatch.setattr(Path, "write_bytes", full_after_one_video)
    refused(capsys, argv, "a face crop could not be written", "No space left on device",
            code=1)
    assert len(list((out / "faces").rglob("record.json"))) == 1  # the finished video only
    monkeypatch.setattr(Path, "write_bytes", real_write)
    assert main(argv) == 0
    faces = pd.read_parquet(out / "faces.parquet")
    assert len(faces) == 8 and (faces["video_status"] == "ok").all()
    assert all((out / "faces" / rel).is_file() for rel in faces["face_path"])


def test_a_reader_that_leaves_early_and_ctrl_c_get_one_line_or_none(monkeypatch, capsys):
    """`registry list | head -1`: stdout's reader gone (simulated: a stream that raises
    BrokenPipeError) ends quietly with 141, as a shell reports SIGPIPE; Ctrl-C (a bare
    KeyboardInterrupt) is named, not "interrupted ()"."""
    import io

    from deepfake_mlflow import registry
    FAULTS.append("registry list | head -1: stdout closed early")
    FAULTS.append("registry list: Ctrl-C")

    class Gone(io.StringIO):
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(registry, "champions", lambda: [{"name": "m"}] * 3)
    with monkeypatch.context() as patched:
        patched.setattr(sys, "stdout", Gone())
        assert main(["registry", "list"]) == 141
    assert capsys.readouterr().err == ""

    def interrupted():
        raise KeyboardInterrupt
    monkeypatch.setattr(registry, "champions", interrupted)
    assert main(["registry", "list"]) == 130
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "interrupted (Ctrl-C)" in err


def test_a_served_row_with_a_path_and_bytes_is_answered_not_guessed():
    """Which of the two a client meant is not guessed: the row is answered as an error
    (VideoDetector.predict), the others scored as usual."""
    from deepfake_mlflow.pyfunc import BOTH, _items
    FAULTS.append("served row with both video and video_b64")
    frame = pd.DataFrame({"video": ["/a.mp4", "/b.mp4", None, None],
                          "video_b64": ["QUJD", None, "QUJD", None]})
    assert list(_items(frame, ["video", "video_b64"])) == [
        (BOTH, "/a.mp4"), ("video", "/b.mp4"), ("video_b64", "QUJD"), ("video", "")]


def test_a_video_with_faces_in_few_frames_is_not_scored(tmp_path):
    """A stray detection in a faceless clip is not a face video: few_faces, no score."""
    FAULTS.append("extract + scoring: faces in 2 of 32 frames")
    from deepfake_mlflow.faces.detector import BlazeFace
    from deepfake_mlflow.faces.extract import ExtractSettings
    from deepfake_mlflow.model import create, save_weights
    from deepfake_mlflow.scoring import Scorer, score_video

    face = read_frames(assets.path("single_face.mp4"), count=2)
    blank = [np.full_like(face[0], 40) for _ in range(46)]
    data = tmp_path / "data"
    write_video(data / "fake" / "mostly_empty.mp4", face + blank)
    (data / "real").mkdir(parents=True)
    shutil.copyfile(assets.path("single_face.mp4"), data / "real" / "talking.mp4")
    out = tmp_path / "work"
    assert main(["extract", "folder", str(data), "--index", str(out / "videos.parquet"),
                 "--out", str(out), "--workers", "1", "--size", "64"]) == 0
    status = pd.read_parquet(out / "faces.parquet").groupby("key")["video_status"].first()
    assert status["folder/fake/mostly_empty"] == "few_faces"
    assert status["folder/real/talking"] == "ok"
    save_weights(create("test_efficientnet", "none"), tmp_path / "w.safetensors")
    scorer = Scorer(tmp_path / "w.safetensors", "test_efficientnet", 64,
                    accel.Compute.resolve("cpu"))
    with BlazeFace("full") as detector:
        score = score_video(data / "fake" / "mostly_empty.mp4", detector, scorer,
                            ExtractSettings(size=64))
    assert score.status == "few_faces" and np.isnan(score.p_fake)
    assert 0 < score.faces_found < 8 and "too few to score" in score.message


# --- training: resume, killed runs --------------------------------------------------------
def test_resume_of_unknown_or_re_optioned_runs_is_refused(faces_ff, interrupted, capsys):
    from deepfake_mlflow.train.config import TrainConfig
    from deepfake_mlflow.stages.train import run as run_train

    tiny = ["--faces", str(faces_ff), "--model", "test_efficientnet", "--pretrained", "none",
            "--size", "64", "--batch-size", "4", "--val-interval", "2", "--val-size", "8",
            "--workers", "0", "--max-iters", "6"]
    refused(capsys, ["train", "ff", *tiny, "--resume", "0123456789abcdef0123456789abcdef"],
            "--resume 0123456789abcdef0123456789abcdef: no such run")
    cfg = TrainConfig("ff", faces=str(faces_ff), model="test_efficientnet", pretrained="none",
                      size=64, batch_size=4, val_interval=2, val_size=8, workers=0, max_iters=6)
    killed = interrupted(run_train, cfg, at=2)
    refused(capsys, ["train", "ff", *tiny, "--max-iters", "8", "--resume", killed],
            "started with other options", "max_iters 6 -> 8")
    refused(capsys, ["train", "ff", *tiny, "--lr", "0.5", "--resume", killed], "lr 0.0001 -> 0.5")
    assert main(["train", "ff", *tiny, "--resume", killed]) == 0  # its own options: resumes
    refused(capsys, ["train", "ff", *tiny, "--resume", killed], "the run finished")


def test_a_run_left_running_by_a_dead_process_is_ended_killed(tmp_path, place):
    """kill -9 leaves a training RUNNING; the next stage on this host, whatever it is (here
    `index`, in another experiment), ends it KILLED and fails the model it was logging
    (PENDING)."""
    FAULTS.append("any stage: a run left RUNNING by kill -9")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    tracking.store.configure()
    experiment = tracking.experiments.experiment_id("train")
    client = mlflow.MlflowClient()
    run = client.create_run(experiment, tags={tracking.runs.HOST_TAG: socket.gethostname(),
                                              tracking.runs.PID_TAG: str(dead.pid), "stage": "train"})
    model = mlflow.initialize_logged_model(name="model", source_run_id=run.info.run_id,
                                           experiment_id=experiment)
    alive = client.create_run(experiment, tags={tracking.runs.HOST_TAG: socket.gethostname(),
                                                tracking.runs.PID_TAG: str(os.getpid())})
    place(tmp_path / "data", "real/a.mp4", "fake/b.mp4")
    assert main(["index", "folder", str(tmp_path / "data")]) == 0
    ended = client.get_run(run.info.run_id)
    assert ended.info.status == "KILLED" and "killed" in ended.data.tags["ended_by"]
    assert mlflow.get_logged_model(model.model_id).status == "FAILED"
    assert client.get_run(alive.info.run_id).info.status == "RUNNING"  # its process lives


def test_a_second_process_joining_a_live_run_leaves_its_owner_on_it():
    """A worker reopening an ablation's parent run (RUNNING in a live process) keeps the
    owner's host and pid on it: when the worker exits, the dead-run check of the next
    stage does not end a parent that is still live."""
    FAULTS.append("worker joins a live parent run: its owner kept")
    tracking.store.configure()
    experiment = tracking.experiments.experiment_id("ablation")
    client = mlflow.MlflowClient()
    owner = str(os.getppid())  # a live process other than this one
    run = client.create_run(experiment, tags={tracking.runs.HOST_TAG: socket.gethostname(),
                                              tracking.runs.PID_TAG: owner, "stage": "ablation"})
    with tracking.runs.stage_run("ablation", run_id=run.info.run_id):
        assert mlflow.get_run(run.info.run_id).data.tags[tracking.runs.PID_TAG] == owner
    assert tracking.runs.end_dead_runs() == []


STORAGE_CASES = [
    (["worker", "s", "--storage", "notaurl"], "not a usable SQLAlchemy URL", 2),
    (["worker", "s", "--storage", "postgresql://u:secret@127.0.0.1:1/optuna"],
     "postgresql://u:***@127.0.0.1:1/optuna cannot be used", 3),
    (["worker", "s", "--storage", "sqlite:////no/such/folder/optuna.db"],
     "unable to open database file", 3),
    (["ablation", "ff", "--storage", "mysql+nosuchdriver://h/db"],
     "not a usable SQLAlchemy URL", 2),
]


@pytest.mark.parametrize("argv, needle, code", STORAGE_CASES)
def test_an_optuna_storage_that_cannot_be_used_is_one_line(argv, needle, code, capsys):
    """A wrong or unreachable storage URL for `worker` or `ablation`: one line (the
    password masked), exit 2 for a URL that cannot be parsed, 3 for a database that cannot
    be reached or opened, at once."""
    started = time.perf_counter()
    line = refused(capsys, argv, needle, code=code)
    assert "secret" not in line and time.perf_counter() - started < 30


def test_a_store_or_workspace_where_a_file_stands_is_one_line(tmp_path, monkeypatch, capsys):
    """A path the store or the workspace needs as a folder is a file: the OS's refusal,
    turned into one line by the command line (exit 1), not a traceback."""
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{blocker}/mlflow.db")
    refused(capsys, ["registry", "list"], str(blocker), code=1)


def _as_another_user(argv: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    """The command run by a user the file modes apply to: root ignores them, so as root
    it runs as `nobody` (setpriv); any other user runs it as themselves."""
    prefix = []
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("running as root without setpriv: file modes cannot be tried")
        prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    command = [*prefix, str(Path(sys.executable).parent / "deepfake-mlflow"), *argv]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "HOME": str(cwd), **env})


def test_a_read_only_store_or_workspace_is_one_line(place, monkeypatch):
    """A store the user may read but not write (a shared copy), and a workspace they may
    not write: one line each (not MLflow's 90 lines of SQL errors), exit 3 and 1, and the
    store and the index as they were."""
    import tempfile
    top = Path(tempfile.mkdtemp(prefix="deepfake-ro-"))  # outside pytest's root-only tmp
    try:
        top.chmod(0o755)
        place(top / "data", "real/a.mp4", "fake/b.mp4")
        index = top / "workspace" / "folder" / "videos.parquet"
        shared = top / "shared"  # a store made where it is read (not a moved copy)
        shared.mkdir()
        monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{shared / 'mlflow.db'}")
        assert main(["index", "folder", str(top / "data"), "--out", str(index)]) == 0
        before = (shared / "mlflow.db").read_bytes()
        for path in top.rglob("*"):
            path.chmod(0o555 if path.is_dir() else 0o444)
        top.chmod(0o777)
        FAULTS.append("index: read-only SQLite store")
        done = _as_another_user(["index", "folder", "data"], top,
                                MLFLOW_TRACKING_URI=f"sqlite:///{shared / 'mlflow.db'}",
                                DEEPFAKE_MLFLOW_WORKSPACE=str(top / "own"))
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 3 and len(lines) == 1, done.stderr
        assert "attempt to write a readonly database" in lines[0]
        assert (shared / "mlflow.db").read_bytes() == before
        FAULTS.append("index: read-only workspace")
        done = _as_another_user(["index", "folder", "data", "--seed", "7"], top,
                                MLFLOW_TRACKING_URI=f"sqlite:///{top / 'own.db'}")
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 1 and len(lines) == 1, done.stderr
        assert "Permission denied" in lines[0] and "Traceback" not in done.stderr
        assert pd.read_parquet(index)["split"].notna().all()  # the index as it was
    finally:
        for path in [top, *top.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        shutil.rmtree(top, ignore_errors=True)


def test_sigterm_ends_a_training_killed_with_one_line(faces_ff, tmp_path):
    FAULTS.append("train: SIGTERM from a scheduler")
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/term.db"}
    work = tmp_path / "ff"
    shutil.copytree(faces_ff.parent, work, ignore=shutil.ignore_patterns("runs", "*.lock"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "deepfake_mlflow.cli", "train", "ff", "--faces",
         str(work / "faces.parquet"), "--model", "test_efficientnet", "--pretrained", "none",
         "--size", "64", "--batch-size", "4", "--val-interval", "2", "--val-size", "8",
         "--workers", "0", "--max-iters", "100000"],
        env=env, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    deadline = time.time() + 120
    while time.time() < deadline and not list(work.glob("runs/*/checkpoint.pt")):
        time.sleep(0.2)
    proc.terminate()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("deepfake-mlflow train: interrupted (SIGTERM)")
    mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])
    (run,) = mlflow.search_runs(search_all_experiments=True, output_format="list")
    assert run.info.status == "KILLED"


# --- the tracking store --------------------------------------------------------------------
def test_an_unreachable_tracking_server_fails_in_seconds(tmp_path, place, capsys, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # nothing listens there
    place(tmp_path / "data", "real/a.mp4", "fake/b.mp4")
    started = time.perf_counter()
    refused(capsys, ["index", "folder", str(tmp_path / "data")],
            "tracking server http://127.0.0.1:9 does not answer", code=3)
    assert time.perf_counter() - started < 15
    assert (tmp_path / "workspace" / "folder" / "videos.parquet").is_file()  # work kept


def _server(db: Path, artifacts: Path, port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "mlflow"), "server", "--backend-store-uri",
         f"sqlite:///{db}", "--default-artifact-root", str(artifacts), "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)  # its own process group: the server's workers die with it
    import requests
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/health", timeout=1).ok:
                return proc
        except requests.RequestException:
            time.sleep(0.3)
    _stop(proc)
    raise RuntimeError("mlflow server did not start")


def _stop(server: subprocess.Popen) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def test_a_tracking_outage_during_training_loses_no_metric(faces_ff, tmp_path, capsys,
                                                           monkeypatch):
    """The server dies after the first checkpoint: training goes on, the points stay in
    the journal, the command ends with one line saying how to send them; resumed with the
    server back, the run holds every point once and best_val_loss is its best."""
    FAULTS.append("train: tracking server killed mid-run, then resumed")
    from deepfake_mlflow.train import loop

    port = free_port()
    db, artifacts = tmp_path / "server.db", tmp_path / "server-artifacts"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{port}")
    server = _server(db, artifacts, port)
    original = loop.save_checkpoint

    def save_then_outage(path, **state):
        original(path, **state)
        if state["iteration"] == 2:
            _stop(server)

    monkeypatch.setattr(loop, "save_checkpoint", save_then_outage)
    argv = ["train", "ff", "--faces", str(faces_ff), "--model", "test_efficientnet",
            "--pretrained", "none", "--size", "64", "--batch-size", "4", "--val-interval", "2",
            "--val-size", "8", "--workers", "0", "--max-iters", "8"]
    try:
        assert main(argv) == 3
        err = capsys.readouterr().err
        assert "Traceback" not in err
        # said once, when it happened; and at the end, how to send what was kept
        assert err.count("unreachable (") == 1
        line = err.strip().splitlines()[-1]
        assert "metrics.jsonl" in line and "--resume" in line
        run_id = line.split("--resume ")[1].split()[0]
        monkeypatch.setattr(loop, "save_checkpoint", original)
        server = _server(db, artifacts, port)
        assert main([*argv, "--resume", run_id]) == 0
        tracking.store.configure()
        client = mlflow.MlflowClient()
        run = client.get_run(run_id)
        assert run.info.status == "FINISHED"
        steps = sorted(m.step for m in client.get_metric_history(run_id, "train_loss"))
        assert steps == list(range(1, 9))  # every point, once
        val = [m.value for m in client.get_metric_history(run_id, "val_loss")]
        assert len(val) == 4 and run.data.metrics["best_val_loss"] == min(val)
        assert len(queries.logged_models(run_id)) == 1

        # the same server dies while that model is evaluated: one line, exit 3, in seconds
        # (not MLflow's four minutes of retries), the run named as left RUNNING
        FAULTS.append("evaluate: tracking server killed mid-run")
        from deepfake_mlflow.evaluation import model_run
        scored = model_run.score_test_set

        def score_then_outage(*args, **kwargs):
            found = scored(*args, **kwargs)
            _stop(server)
            return found

        monkeypatch.setattr(model_run, "score_test_set", score_then_outage)
        started = time.perf_counter()
        capsys.readouterr()
        assert main(["evaluate", run_id, f"ff={faces_ff}", "--robustness", "none",
                     "--mds", "none"]) == 3
        assert time.perf_counter() - started < 60
        err = capsys.readouterr().err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
        assert f"tracking store http://127.0.0.1:{port} failed during run" in err
        assert "stays RUNNING" in err
    finally:
        _stop(server)


def test_a_validation_split_without_fakes_is_named_before_training(faces_ff, tmp_path, capsys):
    """A val split of real videos only (a seeded draw on a small dataset) would make the
    validation loss meaningless: refused in one line naming the index and the split."""
    import pandas as pd
    faces = pd.read_parquet(faces_ff)
    faces = faces[~((faces["split"] == "val") & (faces["label"] == 1))]
    index = faces_ff.parent / "faces-no-val-fakes.parquet"  # beside the crops it names
    faces.to_parquet(index, index=False)
    try:
        refused(capsys, ["train", "ff", "--faces", str(index), "--model", "test_efficientnet",
                         "--pretrained", "none", "--size", "64", "--max-iters", "2"],
                str(index), "the val split has no fake faces")
    finally:
        index.unlink()


# --- study files: the whole file checked strictly before any run exists ------------------
STUDY = {"name": "strict", "train_datasets": ["ff"], "test_datasets": ["ff"],
         "train": {"max_iters": 2}, "evaluate": {"mds": "none"}}
STUDY_CASES = [
    ({"train": {"max_iters": True}}, "--max-iters True: expected an integer"),
    ({"train": {"max_iters": 1.5}}, "--max-iters 1.5: expected an integer"),
    ({"train": {"lr": "fast"}}, "--lr 'fast': expected a number"),
    ({"train": {"seed": 0.5}}, "--seed 0.5: expected an integer"),
    ({"evaluate": {"bootstrap": "many"}}, "--bootstrap 'many': expected an integer"),
    ({"train_datasets": []}, "train_datasets: expected a non-empty list of names"),
    ({"losses": "bce"}, "losses: expected a non-empty list of names"),
    ({"augmentations": ["NOPE"]}, "NOPE"),
    ({"seeds": [0, 0]}, "seeds: 0 given twice"),
    ({"seeds": [0, -1]}, "seeds [0, -1]: expected distinct integers from 0 to 4294967295"),
    # round four: seeds wrapped around (2**32 trained as 0) or overflowed inside training
    ({"seeds": [4294967296]}, "seeds [4294967296]: expected distinct integers from 0 to"),
    ({"seeds": [99999999999999999999]}, "seeds [99999999999999999999]: expected"),
    ({"train": {"seed": 4294967296}}, "--seed 4294967296: expected seeds from 0 to 4294967295"),
    ({"ablation": {"dataset": "ff", "seeds": [4294967296]}}, "--seeds (4294967296,)"),
    ({"seeds": [True]}, "seeds: expected a non-empty list of integers"),
    ({"promote": "yes"}, "promote: expected true or false"),
    ({"train": ["max_iters", 2]}, "train: expected a mapping of options"),
    ({"data_limited": {"datasets": ["ff"]}}, "needs datasets (or dataset) and videos_per_class"),
    ({"ablation": {"dataset": "ff", "seeds": [1.5]}}, "expected an integer"),
    ({"name": ""}, "name: expected a non-empty string"),
    ({"test_datasets": ["ff", "ff"]}, "test_datasets: ff given twice"),
]


@pytest.mark.parametrize("change, needle", STUDY_CASES)
def test_a_study_file_is_checked_whole_and_strictly(change, needle, tmp_path, capsys):
    import yaml
    study = tmp_path / "strict.yaml"
    study.write_text(yaml.safe_dump({**STUDY, **change}))
    line = refused(capsys, ["reproduce", "--study", str(study)], needle)
    assert "strict.yaml" in line
    assert not list(tmp_path.glob("*.db"))  # no store made, so no run either


def test_a_study_file_with_a_key_twice_or_not_a_mapping_is_named(tmp_path, capsys):
    study = tmp_path / "twice.yaml"
    study.write_text("name: a\ntrain_datasets: [ff]\ntest_datasets: [ff]\n"
                     "train:\n  max_iters: 2\n  max_iters: 200\n")
    refused(capsys, ["reproduce", "--study", str(study)], "twice.yaml",
            "key 'max_iters' given twice (line 6)")
    study.write_text("- ff\n- dfd\n")
    refused(capsys, ["reproduce", "--study", str(study)], "expected a mapping of study keys")


def test_a_study_naming_faces_not_extracted_is_refused_before_any_run(tmp_path, capsys):
    """A test set not extracted yet is found at once, not after the grid has trained."""
    import yaml
    study = tmp_path / "early.yaml"
    study.write_text(yaml.safe_dump({**STUDY, "test_datasets": ["ff", "dfdc"]}))
    refused(capsys, ["reproduce", "--study", str(study)], "no faces of ff, dfdc",
            "deepfake-mlflow extract dfdc ROOT")
    assert not list(tmp_path.glob("*.db"))  # no store made, so no run either


# --- round four: the new doors ------------------------------------------------------------
def test_a_scheduler_file_that_is_not_one_is_refused_before_any_wait(tmp_path, capsys):
    """Not JSON, or JSON without the scheduler's address: one line at once (Dask would
    raise from inside, or wait for ever), and no run."""
    for text, needle in (("{", "not JSON"), ("{}", "with the scheduler's \"address\"")):
        (tmp_path / "scheduler.json").write_text(text)
        refused(capsys, ["reproduce", "--scheduler", str(tmp_path / "scheduler.json")],
                "not a scheduler file", needle)
    assert not list(tmp_path.glob("*.db"))


def test_plan_on_a_file_that_is_no_tracking_store_writes_nothing(tmp_path, capsys,
                                                                  monkeypatch):
    """`reproduce --plan` only reads: pointed at an Optuna database it is refused, and the
    file is left byte for byte as it was (MLflow would have made its tables in it)."""
    import sqlite3
    other = tmp_path / "optuna.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE studies (study_id INTEGER PRIMARY KEY)")
    before = other.read_bytes()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{other}")
    refused(capsys, ["reproduce", "--study", "demo", "--plan"], str(other),
            "not an MLflow tracking store")
    assert other.read_bytes() == before


def test_plan_on_a_store_of_an_older_mlflow_neither_migrates_nor_writes(tmp_path, place,
                                                                         capsys, monkeypatch):
    """A store made by an older MLflow (its schema revision behind this one's): `--plan`
    names it and the upgrade command in one line, and leaves the file as it was."""
    import sqlite3
    talking_heads(tmp_path / "data", n=1)
    monkeypatch.chdir(tmp_path)
    assert main(["index", "folder", str(tmp_path / "data"), "--out",
                 str(tmp_path / "videos.parquet")]) == 0
    with sqlite3.connect(tmp_path / "mlflow.db") as db:  # as an older MLflow left it
        db.execute("UPDATE alembic_version SET version_num = '0584bdc529eb'")
    before = (tmp_path / "mlflow.db").read_bytes()
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    refused(capsys, ["reproduce", "--study", "demo", "--plan"], "mlflow.db",
            "another MLflow schema (0584bdc529eb", "mlflow db upgrade sqlite:///")
    assert (tmp_path / "mlflow.db").read_bytes() == before


def test_an_ablation_whose_test_set_holds_one_class_is_refused_before_training(
        faces_ff, tmp_path, capsys):
    """A test set of fake videos alone: named before any trial trains (each trial would
    train, then fail its evaluation)."""
    # the crops and the index; not the checkpoints of the session's other trainings
    shutil.copytree(faces_ff.parent, tmp_path / "ff", ignore=shutil.ignore_patterns("runs"))
    index = tmp_path / "ff" / faces_ff.name
    frame = pd.read_parquet(index)
    frame = frame[~((frame["split"] == "test") & (frame["label"] == 0))]
    one_class = tmp_path / "ff" / "fakes-only.parquet"
    frame.to_parquet(one_class, index=False)
    refused(capsys, ["ablation", "ff", "--faces", str(index), "--test-datasets",
                     f"ff={one_class}", "--max-iters", "2", "--storage",
                     f"sqlite:///{tmp_path / 'optuna.db'}"],
            "fakes-only.parquet", "needs faces of real and fake videos")
    assert not list((tmp_path / "ff").glob("runs/*"))  # no training started
    assert not mlflow.search_runs(search_all_experiments=True, output_format="list")


def _store_made_in(folder: Path, data: Path, monkeypatch) -> None:
    """A store made by indexing `data` while working in `folder` (its embedded default)."""
    talking_heads(data, n=1)
    folder.mkdir()
    monkeypatch.chdir(folder)
    assert main(["index", "folder", str(data), "--out", str(data.parent / "videos.parquet")]) == 0


def _moved(old: Path, new: Path, monkeypatch) -> None:
    shutil.move(old, new)
    monkeypatch.chdir(new)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # a new process would not have it


def test_a_store_in_a_folder_with_a_space_and_an_accent_is_not_taken_for_moved(
        tmp_path, place, capsys, monkeypatch):
    """Its artifact locations are recorded percent-encoded (a%20b): compared as paths, the
    store is where it was made, and no command warns; moved, relocate fixes it."""
    FAULTS.append("a store in a folder named 'études 1': no false warning, relocated")
    old, new = tmp_path / "études 1", tmp_path / "déplacé 2"
    _store_made_in(old, tmp_path / "data", monkeypatch)
    capsys.readouterr()
    assert main(["registry", "list"]) == 0 and "was made in" not in capsys.readouterr().err
    _moved(old, new, monkeypatch)
    assert main(["relocate"]) == 0
    assert f"moved from {old} to {new}" in capsys.readouterr().out
    from deepfake_mlflow import relocate
    assert relocate.moved_from(new / "mlflow.db") is None


def test_relocate_of_a_store_another_process_holds_says_so(tmp_path, place, capsys,
                                                           monkeypatch):
    """A store locked by a writer: relocate names it in use (exit 2), not "nothing to do",
    and the store is left as it was."""
    import sqlite3
    old, new = tmp_path / "old", tmp_path / "new"
    _store_made_in(old, tmp_path / "data", monkeypatch)
    _moved(old, new, monkeypatch)
    before = (new / "mlflow.db").read_bytes()
    writer = sqlite3.connect(new / "mlflow.db", isolation_level=None)
    writer.execute("BEGIN EXCLUSIVE")
    try:
        refused(capsys, ["relocate"], "mlflow.db", "in use by another process")
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert (new / "mlflow.db").read_bytes() == before


def test_the_suite_covers_thirty_kinds_of_fault(request):
    """The last test of the file (pytest runs a module in file order): the cases above,
    counted. Keep it at the end."""
    tests = sum(1 for name in globals() if name.startswith("test_"))
    selected = [item for item in request.session.items if item.module is request.module]
    if len(selected) < tests - 3 + len(VALUE_CASES) + len(STUDY_CASES) + len(STORAGE_CASES):
        pytest.skip("only part of the fault suite ran: nothing to count")
    print(f"\nfault suite: {len(FAULTS)} cases run, all clean (exit code, one line, no "
          "traceback, nothing lost)")
    assert len(FAULTS) >= 30
