"""Where the project writes its working files (indexes, faces) unless told otherwise."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator


def workspace() -> Path:
    """$DEEPFAKE_MLFLOW_WORKSPACE, else ./workspace."""
    return Path(os.environ.get("DEEPFAKE_MLFLOW_WORKSPACE", "workspace"))


def index_path(dataset: str) -> Path:
    return workspace() / dataset / "videos.parquet"


def faces_index_path(dataset: str) -> Path:
    return workspace() / dataset / "faces.parquet"


@contextlib.contextmanager
def atomic_target(path: str | Path) -> Iterator[Path]:
    """A temporary file beside `path` to write to; renamed onto `path` when the block ends
    without error, removed when it fails. A kill at any moment leaves the previous file
    whole, never a half-written one under the final name. The temporary name keeps the
    extension (PyAV picks the container from it) and names the process (two writers never
    share one)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.part{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
