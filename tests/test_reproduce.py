"""reproduce: a tiny study file run for real, twice, and once interrupted and restarted."""

from __future__ import annotations


import mlflow
import pytest
import yaml

from deepfake_mlflow.cli import main
from deepfake_mlflow.errors import MalformedFileError
from deepfake_mlflow.stages import reproduce
from deepfake_mlflow.stages.reproduce import ReproduceConfig
from helpers import study_in_workspace

TINY_STUDY = {
    "name": "tiny",
    "train_datasets": ["ff"],
    "test_datasets": ["ff", "celebdf"],
    "losses": ["bce", "triplet"],
    "augmentations": ["NONE"],
    "train": {"model": "test_efficientnet", "pretrained": "none", "size": 64, "batch_size": 4,
              "triplets": 2, "max_iters": 2, "val_interval": 1, "val_size": 8, "workers": 0},
    # no error gallery: these tests are about the study's steps (test_evaluate and the
    # tiny demo check the galleries)
    "evaluate": {"mds": "none", "gallery": 0},
    "data_limited": {"dataset": "ff", "videos_per_class": [2], "losses": ["bce"]},
    "promote": True,
}


@pytest.fixture
def tiny_study(tmp_path, faces_ff, faces_celebdf):
    return study_in_workspace(tmp_path, TINY_STUDY, faces_ff, faces_celebdf)


def final_runs() -> list:
    return mlflow.search_runs(search_all_experiments=True, output_format="list",
                              filter_string="tags.stage = 'train' and tags.final = 'true'")


def test_a_study_runs_every_step_once_and_a_second_invocation_trains_nothing(tiny_study):
    first = reproduce.run(ReproduceConfig(str(tiny_study)))
    assert first["failed"] == []
    # bce and triplet (from that bce) on ff, and the data-limited bce with 2 videos a class
    assert first["counts"] == {"trained": 3, "reused": 0, "reused_evaluations": 0}
    runs = final_runs()
    assert len(runs) == 3 and len({r.data.tags["config_hash"] for r in runs}) == 3
    assert len(first["matrix"]) == 2 * 2  # 2 models x 2 test sets
    assert list(first["data_limited"]["train_videos"]) == [2, 2]  # on both test sets
    assert [c["dataset"] for c in first["champions"]] == ["ff"]
    parent = mlflow.get_run(first["parent_run_id"])
    children = mlflow.search_runs(search_all_experiments=True, output_format="list",
                                  filter_string=f"tags.mlflow.parentRunId = "
                                                f"'{parent.info.run_id}'")
    stages = sorted(r.data.tags["stage"] for r in children)
    assert stages.count("train") == 3 and "evaluate" in stages and "registry" in stages

    second = reproduce.run(ReproduceConfig(str(tiny_study)))
    assert second["counts"]["trained"] == 0 and second["failed"] == []
    assert second["counts"]["reused_evaluations"] == 2  # the matrix, the data-limited point
    assert len(final_runs()) == 3
    assert second["parent_run_id"] == first["parent_run_id"]  # the same study run


def test_an_interrupted_study_resumes_and_finishes_the_grid(tiny_study, monkeypatch):
    from deepfake_mlflow.train import loop

    original, stops = loop.save_checkpoint, []

    def stop_once(path, **state):  # Ctrl-C after the first checkpoint of the study
        original(path, **state)
        if not stops:
            stops.append(path)
            raise KeyboardInterrupt

    monkeypatch.setattr(loop, "save_checkpoint", stop_once)
    with pytest.raises(KeyboardInterrupt):
        reproduce.run(ReproduceConfig(str(tiny_study)))
    monkeypatch.setattr(loop, "save_checkpoint", original)
    again = reproduce.run(ReproduceConfig(str(tiny_study)))
    assert again["failed"] == []
    runs = final_runs()
    assert len(runs) == 3 and all(r.info.status == "FINISHED" for r in runs)
    assert len({r.data.tags["config_hash"] for r in runs}) == 3  # the killed one resumed


def test_seeds_train_each_variant_once_per_seed_and_tables_show_their_mean(tiny_study,
                                                                           capsys):
    path = tiny_study.parent / "seeds.yaml"
    path.write_text(yaml.safe_dump({**TINY_STUDY, "name": "seeds", "losses": ["bce"],
                                    "seeds": [0, 1], "promote": False}))
    first = reproduce.run(ReproduceConfig(str(path)))
    assert first["failed"] == []
    runs = final_runs()  # the grid's ff-bce-none and the data-limited point, per seed
    assert sorted(r.info.run_name for r in runs) == [
        "ff-bce-none", "ff-bce-none-2v", "ff-bce-none-2v-s1", "ff-bce-none-s1"]
    assert sorted(r.data.tags["seed"] for r in runs) == ["0", "0", "1", "1"]
    assert len(first["matrix"]) == 2 * 2 and set(first["matrix"]["seed"]) == {"0", "1"}
    assert sorted(first["data_limited"]["seed"]) == [0, 0, 1, 1]  # 2 seeds x 2 test sets
    reproduce.report(first)
    assert "\u00b1" in capsys.readouterr().out  # each cell the mean ± the seeds' spread
    again = reproduce.run(ReproduceConfig(str(path)))
    assert again["counts"]["trained"] == 0 and again["counts"]["reused"] == 4


def test_a_bad_study_file_is_named(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**TINY_STUDY, "trian": {}}))
    with pytest.raises(MalformedFileError, match="unknown keys"):
        ReproduceConfig(str(bad))
    bad.write_text(yaml.safe_dump({**TINY_STUDY, "seeds": [1, 1]}))
    with pytest.raises(MalformedFileError, match="seeds"):
        ReproduceConfig(str(bad))
    bad.write_text(yaml.safe_dump({**TINY_STUDY, "train": {"batch_size": 3}}))
    assert main(["reproduce", "--study", str(bad)]) == 2
    assert "bad.yaml: --batch-size 3" in capsys.readouterr().err


def test_faces_extracted_again_are_trained_and_evaluated_again(tiny_study, tmp_path):
    """A study reuses a step only on the faces it ran on: after ff's faces index changes
    (as extraction from a changed video rewrites it: other boxes, other detector scores),
    ff's trainings and the evaluations that scored ff run again, and the report reads only
    the new runs."""
    import pandas as pd

    from dashboards import store

    first = reproduce.run(ReproduceConfig(str(tiny_study)))
    before = {r.info.run_id for r in final_runs()}
    index = tmp_path / "workspace" / "ff" / "faces.parquet"
    faces = pd.read_parquet(index)
    faces.loc[0, "score"] = faces.loc[0, "score"] * 0.99
    faces.to_parquet(index, index=False)

    second = reproduce.run(ReproduceConfig(str(tiny_study)))
    assert second["failed"] == []
    assert second["counts"] == {"trained": 3, "reused": 0, "reused_evaluations": 0}
    runs = final_runs()
    assert len(runs) == 6 and len({r.data.tags["faces_digest"] for r in runs}) == 2
    assert second["parent_run_id"] == first["parent_run_id"]
    study = store.load(run_id=second["parent_run_id"])
    new = {r.info.run_id for r in runs} - before
    assert {r.info.run_id for r in study.grid_runs()} <= new and len(study.grid_runs()) == 2
    assert len(store.matrix_rows(study)) == 2 * 2  # the new models' cells only, once each


def test_a_study_of_one_model_evaluates_it_once(tmp_path, faces_ff, capsys):
    """One grid model: its evaluation is the matrix (a run named eval:, not matrix:); a
    second invocation reuses it, and --plan says so."""
    study = study_in_workspace(tmp_path, {**TINY_STUDY, "test_datasets": ["ff"],
                                          "losses": ["bce"], "data_limited": None,
                                          "promote": False}, faces_ff)
    first = reproduce.run(ReproduceConfig(str(study)))
    assert first["failed"] == [] and len(first["matrix"]) == 1
    second = reproduce.run(ReproduceConfig(str(study)))
    assert second["counts"] == {"trained": 0, "reused": 1, "reused_evaluations": 1}
    evaluations = mlflow.search_runs(search_all_experiments=True, output_format="list",
                                     filter_string="tags.stage = 'evaluate'")
    assert len(evaluations) == 1
    assert second["matrix"][["train_run_id", "eval_run_id", "auc_frame"]].equals(
        first["matrix"][["train_run_id", "eval_run_id", "auc_frame"]])
    capsys.readouterr()
    assert main(["reproduce", "--study", str(study), "--plan"]) == 0
    assert "0 trainings to run, 1 done; 0 evaluations to run, 1 done" in capsys.readouterr().out
