"""Where the project writes its working files (indexes, faces) unless told otherwise."""

from __future__ import annotations

import os
from pathlib import Path


def workspace() -> Path:
    """$DEEPFAKE_MLFLOW_WORKSPACE, else ./workspace."""
    return Path(os.environ.get("DEEPFAKE_MLFLOW_WORKSPACE", "workspace"))


def index_path(dataset: str) -> Path:
    return workspace() / dataset / "videos.parquet"


def faces_index_path(dataset: str) -> Path:
    return workspace() / dataset / "faces.parquet"
