"""The project's set-up files agree with each other and with the code."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

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


def test_mlproject_entry_points_call_cli_subcommands():
    spec = yaml.safe_load((ROOT / "MLproject").read_text())
    assert spec["conda_env"] == "conda.yaml"
    subcommands = set(build_parser()._subparsers._group_actions[0].choices)
    for name, entry in spec["entry_points"].items():
        command = entry["command"]
        assert command.startswith("python -m deepfake_mlflow.cli "), name
        words = command.split()
        # the entry point names its subcommand, or the action of one (registry promote)
        assert words[3] in subcommands and name in (words[3], words[4]), name
        for param in entry.get("parameters", {}):
            assert "{" + param + "}" in command, f"{name}: parameter {param} unused"


def test_train_defaults_agree_across_mlproject_cli_and_config():
    """TrainConfig (fed by config.py) holds the train defaults; MLproject and the command
    line repeat them, and this test keeps the three equal."""
    import dataclasses

    from deepfake_mlflow.train import TrainConfig

    entry = yaml.safe_load((ROOT / "MLproject").read_text())["entry_points"]["train"]
    parser = build_parser()
    train = parser._subparsers._group_actions[0].choices["train"]
    cli = {a.dest: a.default for a in train._actions}
    for field in dataclasses.fields(TrainConfig):
        if field.name == "dataset":
            continue
        assert cli[field.name] == field.default, field.name
        given = entry["parameters"][field.name]["default"]
        parsed = type(field.default)(given) if given != "" else given
        assert parsed == field.default, (field.name, given, field.default)
