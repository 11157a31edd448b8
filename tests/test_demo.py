"""The demo as `make demo` runs it (on the session's corpus, so the test stays short)."""

from __future__ import annotations

import shutil

import mlflow
import pandas as pd

from deepfake_mlflow.stages.demo import DemoConfig
from deepfake_mlflow.stages.demo import run as run_demo
from deepfake_mlflow.tracking import configure

from conftest import CORPUS_SIZE


def test_demo_is_one_parent_run_with_corpus_index_and_extract_children(corpus, tmp_path):
    shutil.copytree(corpus, tmp_path / "demo" / "corpus")  # a finished corpus is reused
    # the whole grid on two datasets, two iterations a phase: the shape, not the learning
    results = run_demo(DemoConfig(str(tmp_path / "demo"), size=CORPUS_SIZE, seed=0,
                                  train_datasets=("ff", "celebdf"),
                                  train_scale={"max_iters": 2, "val_interval": 1,
                                               "workers": 0}))
    assert set(results) == {"ff", "dfd", "dfdc", "celebdf", "champions", "matrix",
                            "example_video", "seconds"}
    assert len(results["matrix"]) == 8 * 4  # 8 models x 4 test sets, for the summary
    assert results["example_video"].suffix == ".mp4"
    configure()
    runs = mlflow.search_runs(experiment_names=["deepfake-demo"], output_format="list")
    parent = next(r for r in runs if r.info.run_name == "demo")
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    stages = sorted((r.data.tags["stage"], r.data.tags.get("dataset", "")) for r in children)
    datasets = ["celebdf", "dfd", "dfdc", "ff"]
    trained = [("train", d) for d in ("celebdf", "ff") for _ in range(4)]
    # the matrix evaluation (a parent of one run per model), one robustness run per champion
    evaluated = [("evaluate", ""), ("evaluate", "celebdf"), ("evaluate", "ff")]
    assert stages == sorted([("corpus", ""), ("registry", "")]
                            + [(s, d) for s in ("index", "extract") for d in datasets]
                            + trained + evaluated)
    promoted = next(r for r in children if r.data.tags["stage"] == "registry")
    assert promoted.info.run_name == "promote" and promoted.data.metrics["champions"] == 2
    assert "champions.csv" in {a.path for a in
                               mlflow.MlflowClient().list_artifacts(promoted.info.run_id)}
    grid = sorted((r.data.tags["loss"], r.data.tags["augment"]) for r in children
                  if r.data.tags["stage"] == "train" and r.data.tags["dataset"] == "ff")
    assert grid == [("bce", "bc+hf+hsv+jpeg"), ("bce", "none"),
                    ("triplet", "bc+hf+hsv+jpeg"), ("triplet", "none")]
    assert results["ff"]["train"]["SELECTED"]["triplet"]
    for child in children:
        assert child.info.status == "FINISHED"
        if child.data.tags["stage"] in ("index", "extract"):
            assert len(child.inputs.dataset_inputs) == 1
        if child.data.tags["stage"] == "extract":
            assert child.data.metrics["face_found_ratio"] >= 0.95
    for dataset in datasets:
        assert (tmp_path / "demo" / "workspace" / dataset / "faces.parquet").is_file()

    # every variant on every test set: the matrix of Tables I-IV
    matrix_run = next(r for r in children if r.info.run_name.startswith("matrix-"))
    table = pd.read_csv(mlflow.artifacts.download_artifacts(
        run_id=matrix_run.info.run_id, artifact_path="matrix/cross_dataset_auc.csv"))
    assert len(table) == 8 * 4 and table["auc_frame"].between(0, 1).all()
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(matrix_run.info.run_id,
                                                                      "matrix")}
    assert {f"matrix/{loss}-{aug}.png" for loss in ("bce", "triplet")
            for aug in ("none", "bc+hf+hsv+jpeg")} <= artifacts
    # a champion per trained dataset, each with its robustness curves
    client = mlflow.MlflowClient()
    for champion in results["champions"]:
        version = client.get_model_version_by_alias(champion["name"], "champion")
        assert version.tags["dataset"] == champion["dataset"]
        assert {f"auc_frame/{d}" for d in datasets} <= set(version.tags)
    robust = [r for r in children if r.data.tags["stage"] == "evaluate" and
              r.data.tags.get("dataset")]
    for run in robust:
        assert "robustness.png" in {a.path for a in client.list_artifacts(run.info.run_id)}
