"""Evaluation, registry, predict and serving on real tiny trainings in one real store.

The module trains three EfficientNetB4 models for a few steps (two on FF++ with different
learning rates, one on Celeb-DF) on faces the real detector found in the demo corpus,
evaluates them against both test sets, and promotes the champions; every test reads the
results back from that SQLite store.
"""

from __future__ import annotations

import base64
import json
import math
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from deepfake_mlflow import cli, config, queries, registry
from deepfake_mlflow.evaluation import matrix
from deepfake_mlflow.evaluation.config import EvaluateConfig
from deepfake_mlflow.evaluation.degrade import sweep
from deepfake_mlflow.stages import evaluate, predict, promote
from deepfake_mlflow.stages.train import run as run_train
from deepfake_mlflow.tracking.store import configure
from deepfake_mlflow.train.config import TrainConfig

from helpers import free_port, tracking_into


@pytest.fixture(scope="module")
def study(faces_ff, faces_celebdf, tmp_path_factory):
    work = tmp_path_factory.mktemp("study")
    with tracking_into(work, chdir=True):  # ./mlartifacts of this store
        def tiny(dataset, faces, **extra):
            return run_train(TrainConfig(
                dataset=dataset, faces=str(faces), model="test_efficientnet", pretrained="none",
                size=64, batch_size=4,
                max_iters=2, val_interval=2, val_size=8, patience=100, workers=0, **extra))
        trained = {"ff": tiny("ff", faces_ff), "ff_fast": tiny("ff", faces_ff, lr=3e-3),
                   "celebdf": tiny("celebdf", faces_celebdf)}
        tests = {"ff": faces_ff, "celebdf": faces_celebdf}
        table = evaluate.run(EvaluateConfig(
            tuple(trained[k].run_id for k in ("ff", "celebdf")), tests,
            robustness="in-domain", mds="all", mds_pairs=2))
        champions = promote.run(promote.PromoteConfig())
        yield {"work": work, "trained": trained, "table": table, "tests": tests,
               "champions": {c["dataset"]: c for c in champions}}


@pytest.fixture
def store(study, monkeypatch):
    """Point this test at the study's store (the autouse fixture gave it an empty one)."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{study['work']}/mlflow.db")
    configure()  # the test is the entry point
    return study


def evaluation_runs(trained_run_id: str) -> list[mlflow.entities.Run]:
    """The evaluations of a trained model, oldest first (the module's matrix run first)."""
    return mlflow.search_runs(search_all_experiments=True, output_format="list",
                              filter_string=f"tags.train_run_id = '{trained_run_id}'",
                              order_by=["attributes.start_time ASC"])


def artifact_paths(run_id: str, path: str = "") -> set[str]:
    client = mlflow.MlflowClient()
    return {a.path for a in client.list_artifacts(run_id, path)}


def test_metrics_per_test_set_match_the_logged_predictions(store):
    train_id = store["trained"]["ff"].run_id
    run = evaluation_runs(train_id)[0]
    assert run.data.tags["dataset"] == "ff" and run.data.tags["stage"] == "evaluate"
    local = Path(mlflow.artifacts.download_artifacts(run_id=run.info.run_id,
                                                     artifact_path="predictions"))
    for test_set, faces_index in store["tests"].items():
        predictions = pd.read_parquet(local / f"{test_set}.parquet")
        test_faces = pd.read_parquet(faces_index).query("split == 'test' and face_path != ''")
        assert len(predictions) == len(test_faces)
        expected = roc_auc_score(predictions["label"], predictions["logit"])
        assert run.data.metrics[f"auc_frame/{test_set}"] == pytest.approx(expected)
        videos = pd.read_csv(local / f"{test_set}_videos.csv")
        assert videos["key"].is_unique and len(videos) == test_faces["key"].nunique()
        assert run.data.metrics[f"auc_video/{test_set}"] == pytest.approx(
            roc_auc_score(videos["label"], videos["logit"]))
        for name in ("ap", "eer", "log_loss", "balanced_accuracy"):
            assert f"{name}_frame/{test_set}" in run.data.metrics
        per_class = videos.groupby("label").size()
        for level in ("frame", "video"):  # each AUC inside its 95% interval over videos
            low, auc, high = (run.data.metrics[f"{k}/{test_set}"] for k in (
                f"auc_{level}_low", f"auc_{level}", f"auc_{level}_high"))
            if per_class.min() >= config.INTERVAL_MIN_VIDEOS:
                assert 0 <= low <= auc <= high <= 1
            else:  # too few videos of a class for an interval that means anything
                assert math.isnan(low) and math.isnan(high)
    assert run.data.params["bootstrap"] == "1000"
    # copied onto the training run, and linked to the logged model
    trained = mlflow.get_run(train_id)
    assert trained.data.metrics["auc_frame/celebdf"] == run.data.metrics["auc_frame/celebdf"]
    assert trained.data.metrics["auc_frame_high/celebdf"] == pytest.approx(
        run.data.metrics["auc_frame_high/celebdf"], nan_ok=True)
    model_id = trained.outputs.model_outputs[-1].model_id
    linked = {m.key for m in mlflow.get_logged_model(model_id).metrics}
    assert {"auc_frame/ff", "auc_video/celebdf"} <= linked
    assert {"roc.png", "metrics.csv", "predictions"} <= artifact_paths(run.info.run_id)


def test_robustness_is_swept_in_domain_only(store):
    run = evaluation_runs(store["trained"]["ff"].run_id)[0]
    assert {"robustness.csv", "robustness.png"} <= artifact_paths(run.info.run_id)
    table = pd.read_csv(mlflow.artifacts.download_artifacts(
        run_id=run.info.run_id, artifact_path="robustness.csv"))
    assert set(table["test_set"]) == {"ff"}
    assert len(table) == len(sweep()) + 2  # every point, plus the clean start of each curve
    assert f"auc_frame/ff/jpeg_{config.ROBUSTNESS_JPEG_QUALITIES[-1]}" in run.data.metrics
    assert "auc_frame/celebdf/jpeg_10" not in run.data.metrics


def test_mds_projects_the_chosen_pairs(store):
    run = evaluation_runs(store["trained"]["celebdf"].run_id)[0]
    assert {"mds/ff.png", "mds/ff.csv", "mds/celebdf.png"} <= artifact_paths(run.info.run_id, "mds")
    points = pd.read_csv(mlflow.artifacts.download_artifacts(run_id=run.info.run_id,
                                                             artifact_path="mds/celebdf.csv"))
    test = pd.read_parquet(store["tests"]["celebdf"]).query("split == 'test' and face_path != ''")
    available = test.groupby("label")["key"].nunique()
    per_label = points.groupby("label")["key"].nunique()
    # mds_pairs=2: two real and two fake videos, or all a small test set has
    assert per_label.to_dict() == {label: min(2, n) for label, n in available.items()}
    assert len(points) == len(test[test["key"].isin(points["key"])])  # every face a point
    assert points[["x", "y"]].notna().all().all()


def test_cross_dataset_matrix_is_logged_and_rebuilt_from_the_store(store):
    table = store["table"]
    assert len(table) == 4  # 2 models x 2 test sets
    parent = mlflow.search_runs(search_all_experiments=True, output_format="list",
                                filter_string="attributes.run_name = 'matrix:2x2'")[0]
    assert {"matrix/cross_dataset_auc.csv", "matrix/bce-none.csv", "matrix/bce-none.png",
            "matrix/bce-none.pdf"} <= artifact_paths(parent.info.run_id, "matrix")
    # the models in a file, not a param of ids; the AUCs as the run's metrics
    assert parent.data.params["models"] == "2"
    assert {"auc_in_domain", "auc_cross", "auc_in_domain/bce-none"} <= set(parent.data.metrics)
    grid = pd.read_csv(mlflow.artifacts.download_artifacts(
        run_id=parent.info.run_id, artifact_path="matrix/bce-none.csv"), index_col=0)
    assert list(grid.index) == ["celebdf", "ff"] and list(grid.columns) == ["celebdf", "ff"]
    # the AUCs copied onto each training run read back as the matrix's rows
    stored = pd.DataFrame([row for run in queries.final_trainings()
                           for row in matrix.rows_of_run(run)], columns=matrix.COLUMNS)
    merged = table.merge(stored, on=["train_dataset", "loss", "augment", "test_set"])
    assert len(merged) == 4 and (merged["auc_frame_x"] == merged["auc_frame_y"]).all()


def test_promote_picks_the_lowest_validation_loss_and_is_idempotent(store):
    ff_runs = [mlflow.get_run(store["trained"][k].run_id) for k in ("ff", "ff_fast")]
    best = min(ff_runs, key=lambda r: r.data.metrics["best_val_loss"])
    champion = store["champions"]["ff"]
    assert champion["train_run_id"] == best.info.run_id
    client = mlflow.MlflowClient()
    version = client.get_model_version_by_alias("deepfake-test-efficientnet-ff", "champion")
    assert version.tags["train_run_id"] == best.info.run_id
    assert version.tags["loss"] == "bce" and version.tags["augment"] == "none"
    assert float(version.tags["val_loss"]) == pytest.approx(best.data.metrics["best_val_loss"],
                                                            rel=1e-5)
    assert len(version.tags) == 6  # dataset, loss, augment, model, train_run_id, val_loss
    assert best.info.run_name in version.description
    if best.info.run_id == store["trained"]["ff"].run_id:  # the evaluated one: its AUCs
        videos = best.data.metrics["videos/celebdf"]  # what each AUC rests on
        assert " celebdf " in version.description
        assert f", {videos:.0f} videos" in version.description
        low, high = (best.data.metrics[f"auc_frame_{b}/celebdf"] for b in ("low", "high"))
        if not math.isnan(low):  # the AUC's 95% interval, where the test set allows one
            assert f"[{low:.2f}, {high:.2f}]" in version.description
    assert "**" not in version.description and "|" not in version.description  # plain text
    registered = client.get_registered_model("deepfake-test-efficientnet-ff")
    assert registered.tags["dataset"] == "ff" and registered.tags["model"] == "test_efficientnet"
    assert registered.tags["task"] == "deepfake-detection"
    again = promote.run(promote.PromoteConfig())
    assert all(result["changed"] == [] for result in again)
    assert len(client.search_model_versions("name = 'deepfake-test-efficientnet-ff'")) == 1
    assert {c["name"] for c in registry.champions()} == {"deepfake-test-efficientnet-ff",
                                                        "deepfake-test-efficientnet-celebdf"}


# the registry names a model by its architecture: the tests train timm's test_efficientnet
CELEBDF_CHAMPION = registry.champion_uri("celebdf", "test_efficientnet")


def corpus_video(corpus: Path, faces_index: Path, split: str, label: int) -> tuple[str, Path]:
    """A video of the corpus with faces in the given split and label: (key, path)."""
    videos = pd.read_parquet(Path(faces_index).parent / "videos.parquet").set_index("key")
    faces = pd.read_parquet(faces_index)
    key = sorted(faces.query(f"split == '{split}' and label == {label} and face_path != ''")
                 ["key"].unique())[0]
    return key, corpus / videos.loc[key, "dataset"] / videos.loc[key, "path"]


def test_predict_scores_a_video_file_as_evaluate_scored_its_faces(store, corpus):
    """From the file: same frames, detector, crop, JPEG round trip and aggregation as the
    extract + evaluate path, so the video logit is the same number."""
    train_id = store["trained"]["ff"].run_id
    key, video = corpus_video(corpus, store["tests"]["ff"], "test", config.FAKE)
    (result,) = predict.run(predict.PredictConfig(train_id, (str(video),)))  # a run id is a model reference too
    assert result["status"] == "ok" and result["faces_found"] == result["frames_sampled"] == 8
    evaluation = evaluation_runs(train_id)[0]
    scored = pd.read_csv(mlflow.artifacts.download_artifacts(
        run_id=evaluation.info.run_id, artifact_path="predictions/ff_videos.csv"))
    assert result["logit"] == pytest.approx(scored.set_index("key").loc[key, "logit"], abs=1e-4)


def test_predict_cli_reports_corrupt_files_and_still_scores_the_others(store, corpus, tmp_path,
                                                                        capsys):
    _, video = corpus_video(corpus, store["tests"]["celebdf"], "test", config.REAL)
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(os.urandom(4096))
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(video.read_bytes()[: video.stat().st_size // 3])
    code = cli.main(["predict", CELEBDF_CHAMPION, str(garbage), str(video),
                     str(cut), str(tmp_path / "absent.mp4")])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 1  # some videos failed
    assert [r["video"] for r in lines] == [str(garbage), str(video), str(cut),
                                           str(tmp_path / "absent.mp4")]
    by_name = {Path(r["video"]).name: r for r in lines}
    assert by_name[video.name]["status"] == "ok" and 0 <= by_name[video.name]["p_fake"] <= 1
    assert by_name["garbage.mp4"]["p_fake"] is None
    assert by_name["garbage.mp4"]["status"] in ("unreadable", "error")
    assert by_name["absent.mp4"]["status"] == "unreadable"
    assert by_name["absent.mp4"]["message"] == "file not found"
    assert by_name["cut.mp4"]["status"] in ("truncated", "unreadable", "too_short")
    assert cli.main(["predict", CELEBDF_CHAMPION, str(video)]) == 0


def test_predict_calibrated_applies_the_fit_stored_with_the_model(store, corpus, tmp_path,
                                                                  capsys):
    """Training fits a temperature and a threshold on its validation videos and stores them
    in the logged model; `predict --calibrated` applies them. A model logged without them
    is refused before any video is read."""
    train_id = store["trained"]["ff"].run_id
    metrics = mlflow.get_run(train_id).data.metrics
    temperature, threshold = metrics["calibration_temperature"], metrics["val_threshold_logit"]
    assert metrics["val_videos"] >= 2 and 0 <= metrics["val_auc_video"] <= 1
    _, video = corpus_video(corpus, store["tests"]["ff"], "test", config.FAKE)
    assert cli.main(["predict", train_id, str(video), "--calibrated"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["p_fake_calibrated"] == pytest.approx(1 / (1 + math.exp(-row["logit"]
                                                                       / temperature)))
    assert row["verdict"] == ("fake" if row["logit"] >= threshold else "real")
    assert cli.main(["predict", train_id, str(video)]) == 0
    assert "p_fake_calibrated" not in json.loads(capsys.readouterr().out)
    # the same model without its calibration (as a model logged before it existed)
    from deepfake_mlflow.model_refs import resolve
    folder = Path(mlflow.artifacts.download_artifacts(
        f"models:/{resolve(train_id).model_id}", dst_path=str(tmp_path / "old")))
    settings = folder / "artifacts" / "model_config.json"
    old = json.loads(settings.read_text())
    del old["calibration"]
    settings.write_text(json.dumps(old))
    assert cli.main(["predict", str(folder), str(video), "--calibrated"]) == 2
    assert "carries no calibration" in capsys.readouterr().err
    assert cli.main(["predict", str(folder), str(video)]) == 0  # scores as before


def test_predict_names_a_model_that_does_not_exist(store, capsys):
    assert cli.main(["predict", "models:/deepfake-effnetb4-nowhere@champion", "x.mp4"]) == 2
    assert "not found" in capsys.readouterr().err
    # runs:/<id>/<name>: that model of the run, or an error, never another of its models
    from deepfake_mlflow.model_refs import resolve
    run_id = store["trained"]["ff"].run_id
    model = mlflow.get_logged_model(resolve(run_id).model_id)
    assert resolve(f"runs:/{run_id}/{model.name}").model_id == model.model_id
    assert cli.main(["predict", f"runs:/{run_id}/model", "x.mp4"]) == 2
    err = capsys.readouterr().err
    assert f"logged no model named 'model'; its models: {model.name}" in err
    # a request without a video column: an MlflowException (the server's 400 with one
    # line), not an error whose stack trace the server would send back
    import pandas as pd
    loaded = mlflow.pyfunc.load_model(f"models:/{model.model_id}")
    with pytest.raises(mlflow.exceptions.MlflowException) as refused:
        loaded.predict(pd.DataFrame({"path": ["a.mp4"]}))
    assert "stack_trace" not in refused.value.serialize_as_json() or \
        "Traceback" not in refused.value.serialize_as_json()


def test_mlflow_models_serve_answers_with_scores(store, corpus, tmp_path):
    """The served model reads paths only inside its roots (the same answer for every path
    outside them, existing or not), scores bytes as it scores the file, bounds a request,
    and answers strict JSON (null, not NaN)."""
    _, video = corpus_video(corpus, store["tests"]["celebdf"], "test", config.FAKE)
    secret = tmp_path / "secret.mp4"  # exists, outside the roots
    secret.write_bytes(video.read_bytes())
    port = free_port()
    mlflow_cli = shutil.which("mlflow", path=str(Path(sys.executable).parent))
    server = subprocess.Popen(
        [mlflow_cli, "models", "serve", "-m", CELEBDF_CHAMPION,
         "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", "1"],
        # the server execs `uvicorn` from PATH: the venv's bin/ must be on it (it is once
        # the venv is activated, as the README says)
        env={**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{store['work']}/mlflow.db",
             "PATH": f"{Path(mlflow_cli).parent}{os.pathsep}{os.environ['PATH']}",
             "DEEPFAKE_MLFLOW_VIDEO_ROOTS": str(corpus), "DEEPFAKE_MLFLOW_MAX_VIDEOS": "6"},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(server.stderr.read().decode()[-2000:])
                time.sleep(1)
        sent = base64.b64encode(video.read_bytes()).decode()
        rows = [[str(video), None], [str(corpus / "no" / "such.mp4"), None],
                [str(secret), None], ["/no/such.mp4", None], ["/etc/passwd", None],
                [None, sent], [str(video), None]]  # 7 videos: one over the limit of 6
        body = json.dumps({"dataframe_split": {"columns": ["video", "video_b64"],
                                               "data": rows}})
        request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations",
                                         data=body.encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=120) as response:
            text = response.read().decode()
        # MLflow's params: the calibration stored with the model, asked for per request
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations", data=json.dumps(
                {"dataframe_split": {"columns": ["video"], "data": [[str(video)]]},
                 "params": {"calibrated": True}}).encode(),
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=120) as response:
            (calibrated,) = json.loads(response.read().decode())["predictions"]
    finally:
        if server.poll() is None:
            os.killpg(server.pid, 15)
            server.wait(timeout=30)

    def strict(constant):  # NaN and Infinity are not JSON
        raise AssertionError(f"{constant} in the answer")
    answer = json.loads(text, parse_constant=strict)["predictions"]
    scored, missing, secret_row, absent, system, by_bytes, over = answer
    assert scored["video"] == str(video) and scored["status"] == "ok"
    assert 0.0 <= scored["p_fake"] <= 1.0 and scored["faces_found"] == 8
    assert missing["status"] == "unreadable" and missing["p_fake"] is None
    # outside the roots: one answer, whether the file exists or not
    outside = {(r["status"], r["message"]) for r in (secret_row, absent, system)}
    assert len(outside) == 1 and outside.pop()[0] == "not_allowed"
    assert by_bytes["status"] == "ok" and by_bytes["video"].startswith("bytes:")
    assert abs(by_bytes["p_fake"] - scored["p_fake"]) < 1e-6
    assert over["status"] == "skipped" and "6 videos" in over["message"]
    assert scored["p_fake_calibrated"] is None and scored["verdict"] is None  # not asked
    assert calibrated["logit"] == pytest.approx(scored["logit"])
    assert 0 <= calibrated["p_fake_calibrated"] <= 1 and calibrated["verdict"] in ("fake",
                                                                                   "real")


NOTEBOOK = """
import sys, mlflow, pandas as pd
model = mlflow.pyfunc.load_model(sys.argv[1])
rows = model.predict(pd.DataFrame({"video": [sys.argv[2]]}))
print(rows["status"][0], rows["faces_found"][0])
"""


def test_the_logged_model_in_a_notebook_reads_its_users_files_quietly(store, corpus,
                                                                       tmp_path, monkeypatch):
    """In a user's own Python process the logged model reads local paths without any
    set-up, and neither loading nor predicting prints MediaPipe's or LiteRT's native
    log lines. model_config at load (MLflow's way) confines it; behind MLflow's scoring
    server (marked by the variable the server sets) it reads no path without roots."""
    _, video = corpus_video(corpus, store["tests"]["celebdf"], "test", config.FAKE)
    # a user's environment: none of the variables the test session sets to quiet logs
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DEEPFAKE_MLFLOW_VIDEO", "GLOG_", "TF_CPP"))}
    # LiteRT's warning came in about half of fresh processes elsewhere (never here, in 22):
    # two processes at once, each a chance (tests/test_extract.py holds the mechanism)
    started = [subprocess.Popen([sys.executable, "-c", NOTEBOOK, CELEBDF_CHAMPION, str(video)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                cwd=store["work"],
                                env={**env, "MLFLOW_TRACKING_URI": mlflow.get_tracking_uri()})
               for _ in range(2)]
    for process in started:
        stdout, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr[-2000:]
        assert stdout.split() == ["ok", "8"]
        for native in ("InitGoogle", "W0000", "I0000", "litert", "absl"):
            assert native not in stderr, stderr

    monkeypatch.delenv("DEEPFAKE_MLFLOW_VIDEO_ROOTS", raising=False)

    def status(**load):
        model = mlflow.pyfunc.load_model(CELEBDF_CHAMPION, **load)
        try:
            return model.predict(pd.DataFrame({"video": [str(video)]}))["status"][0]
        finally:
            model.unwrap_python_model().close()
    assert status(model_config={"video_roots": [str(tmp_path)]}) == "not_allowed"
    assert status(model_config={"video_roots": [str(corpus)]}) == "ok"
    monkeypatch.setenv("__pyfunc_model_path__", "/served/model")  # as `mlflow models serve`
    assert status() == "not_allowed"


def test_evaluate_and_registry_through_the_command_line(store, capsys):
    """The CLI doors reach the same functions: one model, one test set, no extras."""
    train_id = store["trained"]["ff_fast"].run_id
    code = cli.main(["evaluate", train_id, f"ff={store['tests']['ff']}", "--robustness", "none",
                     "--mds", "none"])
    assert code == 0
    (run,) = evaluation_runs(train_id)
    assert run.data.params["robustness"] == "none" and "auc_frame/ff" in run.data.metrics
    assert "robustness.csv" not in artifact_paths(run.info.run_id)
    capsys.readouterr()
    assert cli.main(["registry", "list"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {c["name"] for c in listed} == {"deepfake-test-efficientnet-ff", "deepfake-test-efficientnet-celebdf"}
    assert cli.main(["evaluate", train_id, "nowhere"]) == 2
    assert "no faces index" in capsys.readouterr().err


def test_the_served_model_follows_links_out_of_its_roots_and_spends_bounded_time(
        store, corpus, tmp_path, monkeypatch):
    _, video = corpus_video(corpus, store["tests"]["celebdf"], "test", config.FAKE)
    root = tmp_path / "videos"
    root.mkdir()
    (root / "inside.mp4").write_bytes(video.read_bytes())
    (root / "escape.mp4").symlink_to(video)  # a link inside the root to a file outside
    monkeypatch.setenv("DEEPFAKE_MLFLOW_VIDEO_ROOTS", str(root))

    def predict(*videos):
        model = mlflow.pyfunc.load_model(CELEBDF_CHAMPION)
        try:
            return model.predict(pd.DataFrame({"video": [str(v) for v in videos]}))
        finally:
            model.unwrap_python_model().close()
    rows = predict(root / "escape.mp4", "/proc/self/environ", root / "inside.mp4")
    assert list(rows["status"]) == ["not_allowed", "not_allowed", "ok"]
    assert rows["message"][0] == rows["message"][1]
    monkeypatch.setenv("DEEPFAKE_MLFLOW_MAX_SECONDS", "0.001")  # spent by the first video
    rows = predict(root / "inside.mp4", root / "inside.mp4")
    assert list(rows["status"]) == ["ok", "skipped"]
    assert rows["p_fake"][1] is None and "s were spent" in rows["message"][1]


def test_every_evaluation_analyses_its_errors(store, tmp_path):
    """The module's evaluation of the FF++ model: a per-video table (as an MLflow table),
    each subgroup's AUC equal to the AUC of its own rows, the calibration metrics, and a
    gallery whose missed fakes are the lowest-scored fake videos, with Grad-CAM maps."""
    from PIL import Image

    from deepfake_mlflow.evaluation import breakdown
    run = evaluation_runs(store["trained"]["ff"].run_id)[0]
    local = Path(mlflow.artifacts.download_artifacts(run_id=run.info.run_id,
                                                     dst_path=str(tmp_path)))
    for test_set in store["tests"]:
        videos = pd.read_csv(local / "predictions" / f"{test_set}_videos.csv")
        assert set(breakdown.VIDEO_COLUMNS) <= set(videos.columns)
        assert sorted(videos["rank"]) == list(range(1, len(videos) + 1))
        table = json.loads((local / "videos" / f"{test_set}.json").read_text())
        assert len(table["data"]) == len(videos)  # mlflow.log_table's form
        frames = pd.read_parquet(local / "predictions" / f"{test_set}.parquet")
        subgroups = pd.read_csv(local / "subgroups" / f"{test_set}.csv")
        for row in subgroups.dropna(subset=["auc_video"]).itertuples():
            kept = videos[breakdown.subgroups(videos)[row.Index][2].to_numpy()]
            assert row.auc_video == pytest.approx(roc_auc_score(kept["label"], kept["logit"]))
            part = frames[frames["key"].isin(kept["key"])]
            assert row.auc_frame == pytest.approx(roc_auc_score(part["label"], part["logit"]))
        metrics = run.data.metrics
        assert 0 <= metrics[f"ece_video/{test_set}"] <= 1
        assert 0 <= metrics[f"tpr_at_fpr_5pct_video/{test_set}"] <= 1
        bins = pd.read_csv(local / "calibration" / f"{test_set}.csv")
        assert bins["videos"].sum() == len(videos)
        # the calibration fitted on the FF++ validation videos, applied to this test set
        temperature = float(run.data.params["calibration_temperature"])
        threshold = float(run.data.params["val_threshold_logit"])
        assert videos["p_fake_calibrated"].to_numpy() == pytest.approx(
            1 / (1 + np.exp(-videos["logit"].to_numpy() / temperature)))
        assert (videos["called_fake"] == (videos["logit"] >= threshold)).all()
        for label, rate in ((config.REAL, "fpr"), (config.FAKE, "fnr")):
            wrong = videos.loc[videos["label"] == label, "called_fake"] != bool(label)
            assert metrics[f"{rate}_at_val_threshold_video/{test_set}"] == pytest.approx(
                wrong.mean())
        assert 0 <= metrics[f"ece_video_calibrated/{test_set}"] <= 1
        calibrated = pd.read_csv(local / "calibration" / f"{test_set}_calibrated.csv")
        assert calibrated["videos"].sum() == len(videos)
        page = (local / "gallery" / test_set / "index.html").read_text()
        fake = videos["label"] == config.FAKE
        assert (f"at the threshold picked on the validation videos, "
                f"{(fake & ~videos['called_fake']).sum()} missed and "
                f"{(~fake & videos['called_fake']).sum()} flagged") in " ".join(page.split())
        fakes = videos[fake].sort_values("logit")
        missed = page.split("the worst false alarms")[0]  # the fakes scored most real first
        for key in fakes["key"].head(min(3, len(fakes) // 2)):
            assert f"<b>{key}</b>" in missed
        strips = sorted((local / "gallery" / test_set).glob("*.jpg"))
        assert strips and "Grad-CAM on the last convolutional stage (blocks." in page
        drawn = np.asarray(Image.open(strips[0]).convert("RGB"), dtype=float)
        assert drawn.shape[0] == 2 * 128 + 16  # crops above, crops under their maps below


def test_saliency_maps_have_the_crops_shape_and_are_not_constant(faces_ff):
    """Grad-CAM on a real crop of the corpus through a CNN; a ViT (no spatial last stage)
    gets no map and one line saying why."""
    from deepfake_mlflow.evaluation import gallery
    from deepfake_mlflow.faces.crop import read_crop
    from deepfake_mlflow.model import create
    from deepfake_mlflow.paths import faces_root
    faces = pd.read_parquet(faces_ff)
    paths = [faces_root(faces_ff) / p
             for p in faces.loc[faces["face_path"] != "", "face_path"][:3]]
    crops = np.stack([read_crop(p, 128) for p in paths])
    torch_seed()  # the same weights every run: the maps below are the same every run
    model = create("resnet10t").eval()
    fake, real = (gallery.saliency(model, crops, toward) for toward in (1.0, -1.0))
    assert fake[1] == "layer4" and fake[0].shape == (3, 128, 128)
    for maps in (fake[0], real[0]):
        assert maps.min() >= 0 and maps.max() <= 1
    # each face holds evidence one way or the other: one of its two maps is not flat
    assert all(max(f.std(), r.std()) > 0.01 for f, r in zip(fake[0], real[0]))
    vit = create("test_vit").eval()
    maps, why = gallery.saliency(vit, np.stack([read_crop(p, 160) for p in paths[:1]]))
    assert maps is None and "not a spatial map" in why and "\n" not in why


def torch_seed():
    import torch
    torch.manual_seed(0)
