"""Where the project writes its working files, in one place.

    <workspace>/<dataset>/videos.parquet      the video index (index stage)
    <workspace>/<dataset>/faces.parquet       the faces index (extract stage; shards:
                                              faces-<k>-of-<n>.parquet)
    <workspace>/<dataset>/faces/<key>/        the crops and record of each video
    <workspace>/<dataset>/runs/<run id>/      a training run's checkpoints, beside its faces
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator


VIDEO_INDEX = "videos.parquet"
FACES_INDEX = "faces.parquet"


def workspace() -> Path:
    """$DEEPFAKE_MLFLOW_WORKSPACE, else ./workspace."""
    return Path(os.environ.get("DEEPFAKE_MLFLOW_WORKSPACE", "workspace"))


def index_path(dataset: str, under: str | Path | None = None) -> Path:
    return Path(under or workspace()) / dataset / VIDEO_INDEX


def faces_index_path(dataset: str, under: str | Path | None = None) -> Path:
    return Path(under or workspace()) / dataset / FACES_INDEX


def shard_faces_index(folder: str | Path, k: int, n: int) -> Path:
    return Path(folder) / (FACES_INDEX if n == 1 else f"faces-{k}-of-{n}.parquet")


def faces_root(faces_index: str | Path) -> Path:
    """The folder of the crops a faces index points into."""
    return Path(faces_index).parent / "faces"


def checkpoint_dir(faces_index: str | Path, run_id: str) -> Path:
    """A training run's checkpoints, beside the faces it learnt from."""
    return Path(faces_index).parent / "runs" / run_id


@contextlib.contextmanager
def exclusive(lock_file: str | Path, what: str) -> Iterator[None]:
    """Hold an exclusive lock on `lock_file` for the block, or refuse at once when another
    process holds it. The kernel drops the lock when its process dies (even kill -9), so
    a crashed writer never leaves a stale lock behind."""
    import fcntl

    from .errors import UserInputError

    lock_file = Path(lock_file)
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_file, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise UserInputError(f"{what} is in use by {holder} (lock {lock_file}): wait for "
                                 "it to finish, or write elsewhere") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()}")
        handle.flush()
        try:
            yield
        finally:
            handle.truncate(0)
            fcntl.flock(handle, fcntl.LOCK_UN)


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
