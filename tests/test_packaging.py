"""The project's set-up files agree with each other and with the code."""

from __future__ import annotations

import argparse
import dataclasses
import re
import tomllib
from pathlib import Path

import yaml

from deepfake_mlflow import options, stages
from deepfake_mlflow.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[;]", requirement.strip(), maxsplit=1)[0].lower()


def test_conda_yaml_and_pyproject_name_the_same_dependencies():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    conda = yaml.safe_load((ROOT / "conda.yaml").read_text())
    pip_section = next(d["pip"] for d in conda["dependencies"] if isinstance(d, dict))
    assert sorted(project["dependencies"]) == sorted(pip_section)
    assert {_name(r) for r in project["dependencies"]} >= {
        "mlflow", "torch", "timm", "albumentations", "mediapipe", "optuna", "scikit-learn",
        "numpy", "pandas", "av", "tqdm", "matplotlib"}


def test_constraints_pin_every_dependency():
    pinned = {_name(line) for line in (ROOT / "constraints.txt").read_text().splitlines()
              if line and not line.startswith("#")}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert {_name(r) for r in project["dependencies"]} <= pinned


def test_every_stage_is_an_mlproject_entry_point_with_its_required_parameters_only():
    """MLproject declares what a stage cannot run without and nothing else: every default
    lives in the stage's config dataclass, and other options pass through -P."""
    spec = yaml.safe_load((ROOT / "MLproject").read_text())
    assert spec["conda_env"] == "conda.yaml"
    assert list(spec["entry_points"]) == list(stages.STAGES)
    renamed = {("predict", "videos"): "--video-list"}  # the comma-list form of the videos
    for name, entry in spec["entry_points"].items():
        config = stages.get(name).CONFIG
        required = [f.name for f in dataclasses.fields(config)
                    if f.default is dataclasses.MISSING
                    and f.default_factory is dataclasses.MISSING]
        declared = entry.get("parameters", {})
        assert [p for p in declared if (name, p) not in renamed] == required, name
        assert all("default" not in p for p in declared.values()), name
        words = entry["command"].split()
        assert words[:4] == ["python", "-m", "deepfake_mlflow.cli", name], name
        expected = []
        for param in declared:
            flag = renamed.get((name, param))
            expected += [flag, "{" + param + "}"] if flag else ["{" + param + "}"]
        assert words[4:] == expected, name


def test_cli_options_are_the_config_fields_with_their_defaults():
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    for name in stages.STAGES:
        config = stages.get(name).CONFIG
        actions: dict[str, list] = {}
        for action in commands[name]._actions:
            actions.setdefault(action.dest, []).append(action)
        for field in options.cli_fields(config):
            assert field.name in actions, (name, field.name)
            shown = [a for a in actions[field.name] if a.help != argparse.SUPPRESS]
            assert len(shown) == 1, (name, field.name)  # one spelling in --help
            if field.default is not dataclasses.MISSING and not field.metadata.get("nargs"):
                assert shown[0].default == field.default, (name, field.name)
                # `mlflow run -P batch_size=16` passes --batch_size 16: accepted, not shown
                assert any("--" + field.name in a.option_strings
                           for a in actions[field.name]), (name, field.name)


def test_train_defaults_are_the_protocol_numbers_of_config():
    from deepfake_mlflow import config
    from deepfake_mlflow.train.config import TrainConfig

    cfg = TrainConfig("ff")
    assert (cfg.batch_size, cfg.lr, cfg.patience) == tuple(config.BCE.values())
    assert (cfg.triplets, cfg.triplet_lr, cfg.triplet_patience) == tuple(config.TRIPLET.values())
    assert (cfg.finetune_lr, cfg.finetune_patience) == tuple(config.FINETUNE.values())
    assert (cfg.size, cfg.min_lr, cfg.val_interval, cfg.val_size) == (
        config.FACE_SIZE, config.MIN_LR, config.VAL_INTERVAL, config.VAL_SIZE)
