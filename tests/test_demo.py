"""The demo as `make demo` runs it: corpus, index, extract, then a study file, all under one
parent run (on the session's corpus and a tiny study, so that the test stays short)."""

from __future__ import annotations

import shutil

import mlflow
import pandas as pd
import yaml

from deepfake_mlflow.stages.demo import DemoConfig
from deepfake_mlflow.stages.demo import run as run_demo
from deepfake_mlflow.stages.reproduce import ReproduceConfig
from deepfake_mlflow.tracking import configure

from conftest import CORPUS_SIZE

DATASETS = ["celebdf", "dfd", "dfdc", "ff"]
# the demo study's shape (every part of it) on two training sets, two iterations a phase
TINY_DEMO = {
    "name": "tiny-demo",
    "train_datasets": ["ff", "celebdf"],
    "test_datasets": ["ff", "dfd", "dfdc", "celebdf"],
    "losses": ["bce", "triplet"],
    "augmentations": ["NONE", "SELECTED"],
    "train": {"model": "test_efficientnet", "pretrained": "none", "size": 64, "batch_size": 4,
              "triplets": 2, "max_iters": 2, "val_interval": 1, "val_size": 8, "workers": 0},
    "evaluate": {"mds": "celebdf"},
    "data_limited": {"dataset": "ff", "videos_per_class": [2], "losses": ["bce", "triplet"]},
    "ablation": {"dataset": "ff", "mode": "grid", "test_datasets": "ff,celebdf"},
    "promote": True,
    "robustness": {"jpeg_qualities": [50], "scales": [0.5]},
}


def children_of(run_id: str) -> list:
    return mlflow.search_runs(search_all_experiments=True, output_format="list",
                              filter_string=f"tags.mlflow.parentRunId = '{run_id}'")


def test_the_shipped_demo_study_is_the_whole_grid_on_four_datasets():
    plan = ReproduceConfig("demo").plan()
    assert sorted(plan.train_datasets) == DATASETS == sorted(plan.test_datasets)
    assert set(plan.losses) == {"bce", "triplet"}
    assert set(plan.augmentations) == {"NONE", "SELECTED"}
    assert plan.data_limited and plan.ablation["mode"] == "grid" and plan.promote
    # the demo trains a network that learns in its budget, and names it
    assert plan.train["model"] == "resnet10t"


def test_demo_is_one_parent_run_holding_every_step(corpus, tmp_path):
    shutil.copytree(corpus, tmp_path / "demo" / "corpus")  # a finished corpus is reused
    study = tmp_path / "tiny-demo.yaml"
    study.write_text(yaml.safe_dump(TINY_DEMO))
    cfg = DemoConfig(str(tmp_path / "demo"), size=CORPUS_SIZE, seed=0, study=str(study))
    results = run_demo(cfg)
    assert results["failed"] == []
    assert len(results["matrix"]) == 8 * 4  # 8 models x 4 test sets: Tables I-IV
    assert list(results["data_limited"]["loss"]) == ["bce", "triplet"]
    assert len(results["ablation"]["trials"]) == 9  # Fig. 3's set
    assert results["example_video"].suffix == ".mp4"

    configure()
    parent = mlflow.get_run(results["parent_run_id"])
    assert parent.info.run_name == "demo" and parent.data.tags["study"] == "tiny-demo"
    children = children_of(parent.info.run_id)
    stages = sorted((r.data.tags["stage"], r.data.tags.get("dataset", "")) for r in children)
    trained = sorted(("train", r.data.tags["dataset"]) for r in children
                     if r.data.tags["stage"] == "train")
    # the grid (2 datasets x 2 losses x 2 augmentations) and the data-limited triplet on
    # ff (its bce is the data-limited bce, also a child)
    assert trained == [("train", "celebdf")] * 4 + [("train", "ff")] * 6
    evaluated = [s for s in stages if s[0] == "evaluate"]
    # the matrix, two data-limited points and one robustness sweep per champion
    assert len(evaluated) == 1 + 2 + 2
    assert ("ablation", "ff") in stages and ("registry", "") in stages
    assert [s for s in stages if s[0] in ("corpus", "index", "extract")] == sorted(
        [("corpus", "")] + [(s, d) for s in ("index", "extract") for d in DATASETS])
    for child in children:
        assert child.info.status == "FINISHED"
    ablation = next(r for r in children if r.data.tags["stage"] == "ablation")
    assert len(children_of(ablation.info.run_id)) == 9  # one run per trial, beneath it
    matrix_run = next(r for r in children if r.info.run_name.startswith("matrix-"))
    table = pd.read_csv(mlflow.artifacts.download_artifacts(
        run_id=matrix_run.info.run_id, artifact_path="matrix/cross_dataset_auc.csv"))
    assert len(table) == 8 * 4 and table["auc_frame"].between(0, 1).all()
    client = mlflow.MlflowClient()
    for champion in results["champions"]:  # named by the architecture the study trains
        assert champion["name"] == f"deepfake-test-efficientnet-{champion['dataset']}"
        version = client.get_model_version_by_alias(champion["name"], "champion")
        assert version.tags["dataset"] == champion["dataset"]
    for dataset in DATASETS:
        assert (tmp_path / "demo" / "workspace" / dataset / "faces.parquet").is_file()

    again = run_demo(cfg)  # a second `make demo`: the same parent, nothing trained anew
    assert again["parent_run_id"] == parent.info.run_id
    assert again["counts"]["trained"] == 0 and again["failed"] == []
    assert len([r for r in children_of(parent.info.run_id)
                if r.data.tags["stage"] == "train"]) == 10
