"""How the code is put together, held by tests that take seconds (`make test-fast`):
options refused when a config is built, configs light to import, one list of stages and
experiments, store lookups built in one place, one door per job."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from deepfake_mlflow import naming, queries, stages, tracking
from deepfake_mlflow.errors import MalformedFileError, UserInputError
from deepfake_mlflow.train.config import TrainConfig


def test_a_bad_augmentation_is_refused_when_the_config_is_built():
    with pytest.raises(UserInputError, match="unknown augmentation 'SELECTD'"):
        TrainConfig("ff", augment="hf,SELECTD")
    cfg = TrainConfig("ff", augment="jpeg, selected")
    assert cfg.augment_names == ("HF", "BC", "HSV", "JPEG")
    assert cfg.augment_tag == "bc+hf+hsv+jpeg" == cfg.logged_params()["augment"]
    assert cfg.name() == "ff-bce-selected"


def test_a_study_file_with_a_bad_augmentation_is_named_before_any_work(tmp_path):
    """The study's up-front check promises this: one line naming the file, not one failed
    step per variant later."""
    from deepfake_mlflow.stages.reproduce import ReproduceConfig
    study = tmp_path / "study.yaml"
    study.write_text(yaml.safe_dump({"name": "s", "train_datasets": ["ff"],
                                     "test_datasets": ["ff"], "augmentations": ["SELECTD"]}))
    with pytest.raises(MalformedFileError, match="study.yaml.*unknown augmentation 'SELECTD'"):
        ReproduceConfig(str(study))
    study.write_text(yaml.safe_dump({"name": "s", "train_datasets": ["ff"],
                                     "test_datasets": ["ff"],
                                     "ablation": {"dataset": "ff", "mode": "gird"}}))
    with pytest.raises(MalformedFileError, match="--mode 'gird'"):
        ReproduceConfig(str(study))


def test_configs_and_help_import_neither_torch_nor_mlflow():
    """`--help` and a refused option answer at once: the stages' modules and the configs
    they re-export import nothing heavy at their top."""
    modules = ", ".join(f"deepfake_mlflow.stages.{name}" for name in stages.STAGES)
    code = (f"import sys, importlib\nfor m in '{modules}'.split(', '): importlib.import_module(m)\n"
            "import deepfake_mlflow.cli\n"
            "heavy = [m for m in ('torch', 'mlflow', 'albumentations', 'cv2', 'optuna') "
            "if m in sys.modules]\nprint(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_experiments_come_from_the_one_list_of_stages():
    assert tuple(naming.EXPERIMENTS) == ("corpus", "index", "extract", "train", "evaluate",
                                         "ablation", "registry", "reproduce", "demo")
    # every stage's runs go to one of them, and each has a stage
    assert set(naming.EXPERIMENTS) == {e for e in stages.STAGES.values() if e}
    assert tracking.experiments.experiment_name("registry") == "deepfake-registry"
    with pytest.raises(ValueError, match="unknown experiment 'promote'"):
        tracking.experiments.experiment_name("promote")  # the promote stage's runs go to registry


def test_every_stage_has_config_run_report_and_help_in_its_file():
    for name in stages.STAGES:
        module = stages.get(name)
        assert all(hasattr(module, attr) for attr in ("CONFIG", "HELP", "run", "report")), name


def test_promote_has_one_name():
    """Promoting is the promote stage; `registry` only reads (list)."""
    from deepfake_mlflow.cli import build_parser
    assert build_parser().parse_args(["promote", "--datasets", "ff"]).stage == "promote"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["registry", "promote", "--datasets", "ff"])


def test_store_lookups_quote_their_values_and_odd_keys():
    assert queries.where({"stage": "train", "faces_digest/ff": "ab"}, {"out": "/a/b"},
                         status="FINISHED") == (
        "tags.stage = 'train' and tags.`faces_digest/ff` = 'ab' and params.out = '/a/b' "
        "and attributes.status = 'FINISHED'")
    assert queries.where({"study": "it's"}) == "tags.study = \"it's\""
    assert queries.where({"mlflow.parentRunId": "0" * 32}) == \
        f"tags.mlflow.parentRunId = '{'0' * 32}'"


def test_store_lookups_read_a_real_store(tmp_path):
    """Runs made with the MLflow client, found back by the lookups (an empty SQLite store
    of this test)."""
    import mlflow
    experiment = tracking.experiments.experiment_id("train")
    client = mlflow.MlflowClient()
    parent = client.create_run(experiment, tags={"stage": "train", "final": "true",
                                                 "config_hash": "abc"})
    child = client.create_run(experiment, tags={"mlflow.parentRunId": parent.info.run_id,
                                                "phase": "triplet"})
    client.set_terminated(parent.info.run_id, "FINISHED")
    assert [r.info.run_id for r in queries.final_trainings(config_hash="abc")] == \
        [parent.info.run_id]
    assert queries.final_trainings(config_hash="abc", status="RUNNING") == []
    assert [r.info.run_id for r in queries.children(parent.info.run_id)] == \
        [child.info.run_id]


def test_extract_options_default_to_the_settings_the_faces_record():
    """ExtractConfig's face options are ExtractSettings' fields, with the same defaults."""
    from deepfake_mlflow.faces.extract import ExtractSettings
    from deepfake_mlflow.stages.extract import ExtractConfig
    assert ExtractConfig("ff", "root").settings() == ExtractSettings()
