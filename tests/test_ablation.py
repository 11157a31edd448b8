"""The Optuna ablation: real (tiny) trainings, a real Optuna storage, runs read back from a
real MLflow store."""

from __future__ import annotations

import mlflow
import optuna
import pandas as pd
import pytest

from deepfake_mlflow.stages import ablation
from deepfake_mlflow.ablation.storage import default_storage
from deepfake_mlflow.naming import augment_label
from deepfake_mlflow.stages.ablation import AblationConfig
from helpers import metric_history

TINY = dict(model="test_efficientnet", pretrained="none", size=64, batch_size=4,
            max_iters=2, val_interval=1, val_size=8, workers=0)


def study_runs(parent_id: str) -> list:
    return mlflow.search_runs(search_all_experiments=True, output_format="list",
                              filter_string=f"tags.mlflow.parentRunId = '{parent_id}'")


def parent_run(study: str):
    (run,) = mlflow.search_runs(search_all_experiments=True, output_format="list",
                                filter_string=f"tags.stage = 'ablation' and "
                                              f"tags.optuna_study = '{study}' and "
                                              f"attributes.run_name = '{study}'")
    return run


def test_grid_mode_is_the_papers_fig3_set_one_child_run_per_trial(faces_ff, tmp_path):
    """The grid is Fig. 3's nine points. Trained here on three of them (NONE, one alone,
    MIX: every kind of point) with two seeds: each trial trains twice; its objective is
    their mean; each augmentation is compared with NONE (comparison.csv on the parent)."""
    from deepfake_mlflow.ablation.config import GRID
    assert sorted(AblationConfig("ff").grid_points()) == sorted(
        ["NONE", "HF", "BC", "HSV", "ISO", "GAUS", "DS", "JPEG", "MIX"])
    points = ("NONE", "HF", "MIX")
    cfg = AblationConfig("ff", faces=str(faces_ff), test_datasets=f"ff={faces_ff}",
                         seeds=(0, 1), augmentations=points, **TINY)
    summary = ablation.run(cfg)
    trials = pd.DataFrame(summary["trials"])
    assert set(points) < set(GRID)
    assert sorted(trials["augment"]) == sorted(["none", "hf", "bc+ds+gaus+hf+hsv+iso+jpeg"])
    assert (trials["state"] == "COMPLETE").all()
    assert trials["auc_frame/ff"].between(0, 1).all()  # reported per trial
    parent = parent_run(cfg.study_name())
    children = study_runs(parent.info.run_id)
    assert len(children) == 3
    by_trial = {int(r.data.tags["optuna_trial"]): r for r in children}
    for row in summary["trials"]:  # the trial and its run name each other
        run = by_trial[row["trial"]]
        assert run.info.run_id == row["mlflow_run_id"]
        assert run.data.tags["augment"] == row["augment"] == run.data.params["augment"]
        assert run.data.tags["variant"] == f"bce/{augment_label(row['augment'])}"
        assert run.data.metrics["objective"] == pytest.approx(row["objective"])
        assert "auc_frame/ff" in run.data.metrics and run.data.metrics["seeds"] == 2
        assert run.data.metrics["objective"] == pytest.approx(
            (run.data.metrics["objective/seed_0"] + run.data.metrics["objective/seed_1"]) / 2)
        assert run.data.metrics["best_val_loss"] == pytest.approx(run.data.metrics["objective"])
        curve = metric_history(run.info.run_id, "val_loss")  # the seeds' mean, per validation
        assert len(curve) == 2  # the mean of the seeds' minima is at most its minimum
        assert min(curve) >= run.data.metrics["objective"] - 1e-9
        beneath = study_runs(run.info.run_id)  # per seed its training and its evaluation
        assert sorted(r.info.run_name for r in beneath) == sorted(
            [f"eval:{run.info.run_name}-s0", f"eval:{run.info.run_name}-s1",
             f"ff-bce-{augment_label(row['augment'])}",
             f"ff-bce-{augment_label(row['augment'])}-s1"])
    assert parent.data.tags["best_augment"] == summary["best"]["augment"]
    study = optuna.load_study(study_name=cfg.study_name(), storage=default_storage())
    assert study.metric_names == ["val_loss"]  # optuna-dashboard names the objective
    flat = mlflow.search_runs(search_all_experiments=True, output_format="list",
                              filter_string=summary["trainings_filter"])  # as the UI would
    assert sorted(r.info.run_id for r in flat) == sorted(
        r for t in study.trials for r in t.user_attrs["train_run_ids"])
    assert sorted(r.data.tags["seed"] for r in flat) == ["0"] * 3 + ["1"] * 3
    assert {r.data.tags["variant"] for r in flat} == {
        f"bce/{augment_label(row['augment'])}" for row in summary["trials"]}
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(parent.info.run_id)}
    assert {"trials.csv", "optuna_history.png", "optuna_importances.png",
            "comparison.csv"} <= artifacts
    comparison = summary["comparison"]  # each augmentation against NONE on the test set
    assert len(comparison) == 2 and (comparison["seeds_a"] == 2).all()
    assert set(comparison["verdict"]) <= {"better", "worse", "not distinguishable",
                                          "too few videos"}
    assert parent.data.metrics.keys() >= {f"auc_vs_none/{augment_label(a)}/ff"
                                          for a in comparison["augment"]}
    assert (tmp_path / "optuna.db").is_file()  # beside the tracking store, mlflow.db

    again = ablation.run(cfg)  # the study resumes: nothing is redone
    assert len(again["trials"]) == 3
    assert len(study_runs(parent_run(cfg.study_name()).info.run_id)) == 3


def test_a_failing_trial_is_kept_and_an_interrupted_one_runs_again(faces_ff, monkeypatch):
    """Fault injection in one grid study. A SIGTERM in the middle of the HF trial (raised
    as the CLI's handler raises it) stops the study; Optuna records that trial FAIL, marked
    interrupted. The next run queues HF again (Fig. 3 keeps every bar) and the interrupted
    attempt leaves the trials table; a training that raises for JPEG is a FAIL with its
    reason, in Optuna and in its run, never retried, and every other point still runs."""
    from deepfake_mlflow.train import phases

    real_train = phases.train

    def faulty(interrupt: bool):
        def train(cfg, on_validation=None):
            if cfg.augment == "HF" and interrupt:
                raise KeyboardInterrupt("SIGTERM")
            if cfg.augment == "JPEG":
                raise RuntimeError("disk full while writing a checkpoint")
            return real_train(cfg, on_validation)
        return train

    monkeypatch.setattr(phases, "train", faulty(interrupt=True))
    cfg = AblationConfig("ff", faces=str(faces_ff), test_datasets="none", study="faulty",
                         **TINY)
    with pytest.raises(KeyboardInterrupt):
        ablation.run(cfg)
    study = optuna.load_study(study_name="faulty", storage=default_storage())
    (stopped,) = [t for t in study.trials if t.state.name == "FAIL"]
    assert stopped.user_attrs["fail_reason"] == "interrupted (SIGTERM)"
    assert mlflow.get_run(stopped.user_attrs["mlflow_run_id"]).info.status == "KILLED"

    monkeypatch.setattr(phases, "train", faulty(interrupt=False))
    summary = ablation.run(cfg)
    states = {row["augment"]: row for row in summary["trials"]}
    assert len(summary["trials"]) == 9 and states["hf"]["state"] == "COMPLETE"
    assert states["jpeg"]["state"] == "FAIL"
    assert "disk full" in states["jpeg"]["fail_reason"]
    assert sum(row["state"] == "COMPLETE" for row in summary["trials"]) == 8
    failed = mlflow.get_run(states["jpeg"]["mlflow_run_id"])
    assert failed.info.status == "FAILED" and failed.data.tags["optuna_state"] == "FAIL"


def test_search_mode_prunes_on_validation_losses(faces_ff):
    cfg = AblationConfig("ff", faces=str(faces_ff), mode="search", trials=6,
                         test_datasets="none", **{**TINY, "max_iters": 6})
    summary = ablation.run(cfg)
    states = [row["state"] for row in summary["trials"]]
    assert len(states) == 6 and "PRUNED" in states
    pruned = next(r for r in summary["trials"] if r["state"] == "PRUNED")
    run = mlflow.get_run(pruned["mlflow_run_id"])
    assert run.info.status == "KILLED" and run.data.tags["optuna_state"] == "PRUNED"
    assert "pruned" in run.data.tags["ended_early"]
    study = optuna.load_study(study_name=cfg.study_name(), storage=default_storage())
    assert sum(t.state.name == "PRUNED" for t in study.trials) == states.count("PRUNED")


def test_the_objective_reads_validation_splits_only(faces_ff, faces_celebdf, tmp_path):
    """Both faces indexes lose their test split: an objective that read one would fail."""
    def without_test(faces, name):
        frame = pd.read_parquet(faces)
        target = faces.parent / f"{name}-no-test.parquet"  # beside its faces/ folder
        frame[frame["split"] != "test"].to_parquet(target)
        return target
    ff = without_test(faces_ff, "ff")
    celebdf = without_test(faces_celebdf, "celebdf")
    try:
        cfg = AblationConfig("ff", faces=str(ff), objective="cross-val-auc",
                             cross_datasets=f"celebdf={celebdf}", test_datasets="none",
                             study="cross", **TINY)
        summary = ablation.run(cfg)
    finally:
        ff.unlink()
        celebdf.unlink()
    assert all(row["state"] == "COMPLETE" for row in summary["trials"])
    assert all(0 <= row["objective"] <= 1 for row in summary["trials"])  # an AUC, maximised
    run = mlflow.get_run(summary["best"]["mlflow_run_id"])
    assert "val_auc_frame/celebdf" in run.data.metrics


def test_a_named_study_resumes_only_with_its_own_options(faces_ff):
    """Trials run with other options (or on other faces) do not compare: a study named with
    --study refuses them; without --study, other options name another study."""
    from deepfake_mlflow.errors import UserInputError

    one = dict(faces=str(faces_ff), mode="search", trials=1, test_datasets="none", **TINY)
    ablation.run(AblationConfig("ff", study="mine", **one))
    other = AblationConfig("ff", study="mine", **{**one, "max_iters": 3})
    with pytest.raises(UserInputError, match="'mine' .* other training options or faces"):
        ablation.run(other)
    unnamed = [AblationConfig("ff", **{**one, "max_iters": n}).study_name() for n in (2, 3)]
    assert unnamed[0] != unnamed[1] and all(
        n.startswith("ablation-ff-search-bce-") for n in unnamed)
    more = AblationConfig("ff", study="mine", **{**one, "trials": 2})  # more trials: the same
    assert more.fingerprint() == AblationConfig("ff", **one).fingerprint()
    assert len(ablation.run(more)["trials"]) == 2


def test_a_worker_reads_the_test_sets_the_study_was_started_on(faces_ff, tmp_path,
                                                                monkeypatch):
    """The study keeps its test sets as found where it started (every dataset of that
    workspace): a worker whose own workspace is elsewhere joins it all the same."""
    import shutil

    from deepfake_mlflow.stages import worker

    workspace = tmp_path / "workspace"  # the conftest's DEEPFAKE_MLFLOW_WORKSPACE
    shutil.copytree(faces_ff.parent, workspace / "ff",
                    ignore=shutil.ignore_patterns("runs", "*.lock"))
    cfg = AblationConfig("ff", faces=str(workspace / "ff" / "faces.parquet"), mode="search",
                         trials=1, **TINY)
    ablation.run(cfg)
    name = cfg.study_name()  # printed by the ablation; here its test sets are ff's
    monkeypatch.setenv("DEEPFAKE_MLFLOW_WORKSPACE", str(tmp_path / "elsewhere"))
    summary = worker.run(worker.WorkerConfig(name, wait=5))
    assert len(summary["trials"]) == 1 and "auc_frame/ff" in summary["trials"][0]


def test_a_grid_of_some_points_keeps_the_papers_order_and_needs_none():
    """--augmentations: the grid's points, in Fig. 3's order; NONE among them (each is
    compared with it); a study of other points is another study."""
    from deepfake_mlflow.errors import UserInputError
    some = AblationConfig("ff", augmentations=("jpeg", "none", "HF"), **TINY)
    assert some.grid_points() == ["NONE", "HF", "JPEG"]
    every = AblationConfig("ff", **TINY)
    assert every.grid_points() == ["NONE", "HF", "BC", "HSV", "ISO", "GAUS", "DS", "JPEG",
                                   "MIX"]
    assert some.study_name() != every.study_name()
    for bad in (("HF", "BC"), ("NONE", "BLUR"), ("NONE", "NONE")):
        with pytest.raises(UserInputError, match="--augmentations"):
            AblationConfig("ff", augmentations=bad, **TINY)
