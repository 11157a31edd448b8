"""Short real trainings in a real MLflow store: timm's tiny test_efficientnet where the
architecture does not matter (plumbing), the real EfficientNetB4 where it does (the
triplet loss on its 1792 pooled features)."""

from __future__ import annotations

import json
import os


import mlflow
import pandas as pd
import pytest
import torch

from deepfake_mlflow import queries
from deepfake_mlflow.errors import UserInputError
from deepfake_mlflow.train.config import TrainConfig
from deepfake_mlflow.stages.train import run as run_train
from deepfake_mlflow.train.loop import BEST, CHECKPOINT
from helpers import metric_history, tiny


def test_bce_run_is_tracked_and_its_model_predicts(faces_ff, corpus, monkeypatch):
    # sample system metrics every 0.05 s (MLflow's default is 10 s, longer than this run;
    # at 0.2 s a loaded machine sometimes ended the run before the first sample was logged)
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.05")
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING", "1")
    result = run_train(tiny(faces_ff, augment="SELECTED"))
    run = mlflow.get_run(result.run_id)
    assert run.data.tags["loss"] == "bce" and run.data.tags["augment"] == "bc+hf+hsv+jpeg"
    assert run.data.tags["dataset"] == "ff" and run.data.tags["stage"] == "train"
    assert run.data.params["phase_lr"] == "0.0001" and run.data.params["started_from"] == "none"
    mlflow.flush_async_logging()
    assert len(metric_history(run.info.run_id, "train_loss")) == 4
    assert len(metric_history(run.info.run_id, "val_loss")) == 2
    assert run.data.metrics["best_val_loss"] == min(metric_history(run.info.run_id, "val_loss"))
    assert any(k.startswith("system/") for k in run.data.metrics)
    dataset = run.inputs.dataset_inputs[0].dataset
    assert dataset.name == "ff-faces"
    # the training reads five columns of the index; its dataset is still the file's: every
    # column in the schema, and the digest the extraction logged for the same faces
    schema = json.loads(dataset.schema)["mlflow_colspec"]
    assert {c["name"] for c in schema} >= {"key", "face_path", "x", "score", "method"}
    from deepfake_mlflow.tracking.logs import _index_digest
    whole = pd.read_parquet(faces_ff)  # as the extraction logs it
    assert _index_digest(whole, str(faces_ff.resolve())) == dataset.digest
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id)}
    assert "augmentation.json" in artifacts
    assert run.data.tags["final"] == "true"  # the registry's and the matrix's candidates
    # the logged model scores videos end to end, with the training faces' extract settings
    model_id = run.outputs.model_outputs[0].model_id
    os.environ["DEEPFAKE_MLFLOW_VIDEO_ROOTS"] = str(corpus)  # the folders it may read
    try:
        model = mlflow.pyfunc.load_model(f"models:/{model_id}")
    finally:
        os.environ.pop("DEEPFAKE_MLFLOW_VIDEO_ROOTS")
    videos = sorted(str(v) for v in (corpus / "ff" / "original_sequences").rglob("*.mp4"))[:2]
    scores = model.predict(pd.DataFrame({"video": videos}))
    assert list(scores["video"]) == videos and (scores["status"] == "ok").all()
    assert scores["p_fake"].between(0, 1).all() and (scores["frames_sampled"] == 8).all()
    # the calibration fitted on the val split's videos travels with the model
    fitted = model.unwrap_python_model().calibration
    val = whole[(whole["split"] == "val") & (whole["face_path"] != "")]
    assert fitted.real_videos + fitted.fake_videos == val["key"].nunique()
    assert fitted.temperature == pytest.approx(run.data.metrics["calibration_temperature"])
    assert fitted.threshold == pytest.approx(run.data.metrics["val_threshold_logit"])
    assert run.data.tags["calibration"] == fitted.describe()
    model.unwrap_python_model().close()
    # the weights-only checkpoint loads without unpickling arbitrary objects
    folder = faces_ff.parent / "runs" / run.info.run_id
    state = torch.load(folder / CHECKPOINT, weights_only=True)
    assert state["iteration"] == 4 and (folder / BEST).is_file()


def test_triplet_is_a_parent_with_bce_triplet_finetune_children(faces_ff):
    result = run_train(tiny(faces_ff, loss="triplet", model="efficientnet_b4"))
    parent = mlflow.get_run(result.run_id)
    assert parent.data.tags["loss"] == "triplet"
    children = mlflow.search_runs(search_all_experiments=True, output_format="list",
                                  filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    phases = {c.data.tags["phase"]: c for c in children}
    assert set(phases) == {"bce", "triplet", "finetune"}
    assert phases["triplet"].data.params["phase_lr"] == "1e-05"
    assert phases["finetune"].data.params["phase_lr"] == "1e-06"
    assert phases["triplet"].data.params["started_from"].endswith(BEST)
    assert phases["finetune"].data.params["phase_batch_size"] == "4"
    assert parent.outputs.model_outputs  # the final model sits on the parent
    assert parent.data.tags["final"] == "true"
    assert not any("final" in c.data.tags for c in children)
    assert not phases["triplet"].outputs or not phases["triplet"].outputs.model_outputs


def test_init_from_a_run_skips_the_bce_phase(faces_ff):
    bce = run_train(tiny(faces_ff))
    result = run_train(tiny(faces_ff, loss="triplet", init=bce.run_id))
    children = mlflow.search_runs(search_all_experiments=True, output_format="list",
                                  filter_string=f"tags.mlflow.parentRunId = '{result.run_id}'")
    assert sorted(c.data.tags["phase"] for c in children) == ["finetune", "triplet"]


def test_two_runs_with_one_seed_give_identical_loss_curves(faces_ff):
    a = run_train(tiny(faces_ff, augment="MIX", workers=0))
    b = run_train(tiny(faces_ff, augment="MIX", workers=2))  # worker count changes nothing
    mlflow.flush_async_logging()
    assert metric_history(a.run_id, "train_loss") == metric_history(b.run_id, "train_loss")
    assert metric_history(a.run_id, "val_loss") == metric_history(b.run_id, "val_loss")


def test_resume_from_a_mid_run_checkpoint_equals_the_uninterrupted_run(faces_ff, interrupted):
    full = run_train(tiny(faces_ff, max_iters=6, augment="HF"))
    # the same training stopped right after its checkpoint at iteration 4, then resumed
    part = interrupted(run_train, tiny(faces_ff, max_iters=6, augment="HF"), at=4)
    assert mlflow.get_run(part).info.status == "KILLED"  # not left RUNNING
    resumed = run_train(tiny(faces_ff, max_iters=6, augment="HF", resume=part))
    assert resumed.run_id == part  # the same MLflow run continues
    assert mlflow.get_run(part).info.status == "FINISHED"
    # every point once, as in the uninterrupted run (the journal covers the checkpoint)
    assert metric_history(part, "train_loss") == metric_history(full.run_id, "train_loss")
    assert metric_history(part, "val_loss") == metric_history(full.run_id, "val_loss")
    assert mlflow.get_run(part).data.metrics["best_val_loss"] == resumed.best_val_loss
    folder = faces_ff.parent / "runs"
    a = torch.load(folder / full.run_id / CHECKPOINT, weights_only=True)["model"]
    b = torch.load(folder / part / CHECKPOINT, weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    # a finished run is final: resuming it again is refused, and logs no second model
    with pytest.raises(UserInputError, match="the run finished"):
        run_train(tiny(faces_ff, max_iters=8, augment="HF", resume=part))
    assert len(queries.logged_models(part)) == 1


def test_missing_faces_index_and_bad_loss_are_clear(tmp_path, faces_ff, capsys):
    from deepfake_mlflow.cli import main
    assert main(["train", "ff", "--faces", str(tmp_path / "nope.parquet")]) == 2
    assert f"no faces index at {tmp_path / 'nope.parquet'}" in capsys.readouterr().err
    # with a faces index that exists, so that only the loss can be refused
    with pytest.raises(SystemExit) as exit_:
        main(["train", "ff", "--faces", str(faces_ff), "--loss", "hinge"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "deepfake-mlflow train: error: argument --loss: invalid choice: 'hinge' "
        "(choose from 'bce', 'triplet')")
    # from Python (and so from any caller) the config refuses it the same way
    with pytest.raises(UserInputError, match=r"^--loss 'hinge': expected one of bce, triplet$"):
        TrainConfig("ff", loss="hinge")
