"""The faces index (faces.parquet): one row per sampled frame of every video, built from
the per-video records; and the shards that spread extraction over machines.

`shard=k/n` takes every n-th video of the key-sorted index from the k-th on, so n machines
cover the dataset with no overlap and no gap; merge_shards joins their faces-k-of-n.parquet
into one faces.parquet, and refuses when a shard is missing or a video is absent or doubled.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import pandas as pd

from ..assets import file_sha256
from ..errors import UserInputError
from ..paths import shard_faces_index
from ..vocabulary import VideoStatus
from .extract import read_record, record_rows

FACE_COLUMNS = ["key", "frame", "timestamp", "x", "y", "w", "h", "score", "face_path",
                "video_status", "video_reason", "label", "split", "dataset", "subset",
                "method", "source"]


def faces_digest(index: str | Path) -> str:
    """A short digest of a faces index's bytes ("" when there is none): its boxes and
    detector scores change with the videos' pixels, so a study reuses a training or an
    evaluation only on the very faces it ran on. Read once per version of the file."""
    try:
        stat = Path(index).stat()
    except OSError:
        return ""
    return _digest(str(Path(index).resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _digest(path: str, size: int, mtime_ns: int) -> str:
    return file_sha256(path)[:16]


def missing_index_error(index: Path, dataset: str, prefix: str,
                        otherwise: str) -> UserInputError:
    """The error for a faces index that is not there: merge the shards when only they are
    (an extraction spread over machines), else `otherwise` (how to make it)."""
    if shard_indexes(index.parent):
        return UserInputError(f"{prefix}no faces index at {index}, only shards of it: run "
                              f"`deepfake-mlflow extract {dataset} ROOT --merge`")
    return UserInputError(f"{prefix}no faces index at {index}{otherwise}")


def parse_shard(shard: str) -> tuple[int, int]:
    try:
        k, n = (int(v) for v in str(shard).split("/"))
    except ValueError:
        raise UserInputError(f"--shard {shard!r}: expected k/n, e.g. 2/8") from None
    if not 1 <= k <= n:
        raise UserInputError(f"--shard {shard!r}: k must be between 1 and n")
    return k, n


def shard_of(videos: pd.DataFrame, shard: str) -> pd.DataFrame:
    k, n = parse_shard(shard)
    ordered = videos.sort_values("key").reset_index(drop=True)
    return ordered.iloc[k - 1 :: n].reset_index(drop=True)


def faces_index_path(out: Path, shard: str) -> Path:
    return shard_faces_index(out, *parse_shard(shard))


SHARD_INDEX = re.compile(r"faces-(\d+)-of-(\d+)\.parquet")


def shard_indexes(folder: Path) -> dict[int, dict[int, Path]]:
    """n -> {k: faces-k-of-n.parquet} of the shard indexes in a folder."""
    found: dict[int, dict[int, Path]] = {}
    for path in sorted(Path(folder).glob("faces-*-of-*.parquet")):
        match = SHARD_INDEX.fullmatch(path.name)
        if match:
            found.setdefault(int(match.group(2)), {})[int(match.group(1))] = path
    return found


def merge_shards(folder: Path, videos: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The faces index of all shards of `folder`, checked against the video index: every
    shard present, every video in exactly one shard. Returns it and the shard count."""
    from ..datasets.schema import read_table

    found = shard_indexes(folder)
    if not found:
        raise UserInputError(f"{folder}: no shard faces indexes (faces-k-of-n.parquet) to merge")
    if len(found) > 1:
        raise UserInputError(f"{folder}: shards of {sorted(found)} machines side by side: "
                             "keep the shards of one extraction only")
    (n, shards), = found.items()
    missing = [k for k in range(1, n + 1) if k not in shards]
    if missing:
        raise UserInputError(f"{folder}: shard(s) {', '.join(map(str, missing))} of {n} are "
                             f"missing: run extract --shard {missing[0]}/{n} first")
    parts = [read_table(shards[k], FACE_COLUMNS, "faces index") for k in range(1, n + 1)]
    owners = pd.concat([p[["key"]].drop_duplicates().assign(shard=k)
                        for k, p in zip(range(1, n + 1), parts)])
    doubled = owners[owners.duplicated("key", keep=False)]
    if len(doubled):
        raise UserInputError(f"{folder}: {doubled['key'].nunique()} video(s) in more than one "
                             f"shard (e.g. {doubled['key'].iloc[0]}): the shards come from "
                             "different video indexes")
    expected, got = set(videos["key"]), set(owners["key"])
    absent, extra = sorted(expected - got), sorted(got - expected)
    if absent or extra:
        what = (f"{len(absent)} video(s) of the index in no shard (e.g. {absent[0]})" if absent
                else f"{len(extra)} video(s) in no row of the index (e.g. {extra[0]})")
        raise UserInputError(f"{folder}: {what}: re-run the shards' extract with this index")
    merged = pd.concat(parts, ignore_index=True)
    return merged.sort_values(["key", "frame"], kind="stable").reset_index(drop=True), n


CHUNK_ROWS = 50_000  # rows held as Python dicts at once while a faces index is assembled


def faces_index(videos: pd.DataFrame, faces_root: str | Path) -> pd.DataFrame:
    """One row per sampled frame of every video of `videos` (finished or failed before).

    Assembled in columnar chunks: a Python dict per row costs about a kilobyte, so DFDC's
    3.8M rows would need gigabytes as dicts, and need tens of megabytes as chunks."""
    meta = videos.set_index("key")[["label", "split", "dataset", "subset", "method", "source"]]
    chunks, rows = [], []
    for key, status, reason in zip(videos["key"], videos["status"], videos["reason"]):
        if status != VideoStatus.OK:  # missing or unreadable already at indexing
            rows += record_rows({"key": key, "status": status, "reason": reason, "rows": []})
        elif (record := read_record(Path(faces_root), key)) is not None:
            rows += record_rows(record)
        if len(rows) >= CHUNK_ROWS:
            chunks.append(pd.DataFrame(rows, columns=FACE_COLUMNS[:11]))
            rows = []
    if rows or not chunks:
        chunks.append(pd.DataFrame(rows, columns=FACE_COLUMNS[:11]))
    frame = pd.concat(chunks, ignore_index=True).join(meta, on="key")
    frame["frame"] = frame["frame"].astype("int64")
    frame["label"] = frame["label"].astype("int8")
    return frame[FACE_COLUMNS].sort_values(["key", "frame"], kind="stable").reset_index(drop=True)
