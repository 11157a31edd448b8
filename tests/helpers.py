"""Helpers shared by the test modules (fixtures are in conftest.py): the tiny training
most tests run, metric histories read back from the store, a free port, and a tracking
store set for the length of a block."""

from __future__ import annotations

import dataclasses
import socket
from contextlib import contextmanager
from pathlib import Path

import pytest

from deepfake_mlflow.train.config import TrainConfig


def tiny(faces_ff, **overrides) -> TrainConfig:
    """A training of the FF++ test faces that takes seconds: the tiny timm EfficientNet at
    64 px, 4 iterations of 4 faces, validated every 2."""
    return dataclasses.replace(
        TrainConfig(dataset="ff", faces=str(faces_ff), model="test_efficientnet",
                    pretrained="none", size=64,
                    batch_size=4, triplets=2, max_iters=4, val_interval=2, val_size=8,
                    patience=100, workers=0, seed=0), **overrides)


def metric_history(run_id: str, key: str) -> list[float]:
    import mlflow
    history = mlflow.MlflowClient().get_metric_history(run_id, key)
    return [m.value for m in sorted(history, key=lambda m: m.step)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def tracking_into(folder: Path, db: str = "mlflow.db", chdir: bool = False, **env):
    """MLFLOW_TRACKING_URI (and any other variables given) pointing at a SQLite store in
    `folder` for the block, restored afterwards; chdir=True also works in the folder (its
    ./mlartifacts). The block is an entry point: the store is configured in it, and the
    outer one again after it."""
    import mlflow

    from deepfake_mlflow.tracking.store import configure
    outer = mlflow.get_tracking_uri()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{folder}/{db}")
        for key, value in env.items():
            patch.setenv(key, str(value))
        if chdir:
            patch.chdir(folder)
        try:
            yield configure()
        finally:
            mlflow.set_tracking_uri(outer)


def study_in_workspace(tmp_path: Path, study: dict, *faces: Path) -> Path:
    """A study file beside a workspace holding these extracted faces (each dataset's folder
    as extraction left it, without its runs): the set-up of every study test."""
    import shutil

    import yaml
    for index in faces:
        shutil.copytree(index.parent, tmp_path / "workspace" / index.parent.name,
                        ignore=shutil.ignore_patterns("runs", "*.lock"))
    path = tmp_path / f"{study['name']}.yaml"
    path.write_text(yaml.safe_dump(study))
    return path
