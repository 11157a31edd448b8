"""The faces index (faces.parquet): one row per sampled frame of every video, built from
the per-video records; and the shards that spread extraction over machines.

`shard=k/n` takes every n-th video of the key-sorted index from the k-th on, so n machines
cover the dataset with no overlap and no gap.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..errors import UserInputError
from ..paths import shard_faces_index
from ..vocabulary import VideoStatus
from .extract import read_record, record_rows

FACE_COLUMNS = ["key", "frame", "timestamp", "x", "y", "w", "h", "score", "face_path",
                "video_status", "video_reason", "label", "split", "dataset", "subset",
                "method", "source"]


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


def faces_index(videos: pd.DataFrame, faces_root: str | Path) -> pd.DataFrame:
    """One row per sampled frame of every video of `videos` (finished or failed before)."""
    meta = videos.set_index("key")[["label", "split", "dataset", "subset", "method", "source"]]
    rows = []
    for key, status, reason in zip(videos["key"], videos["status"], videos["reason"]):
        if status != VideoStatus.OK:  # missing or unreadable already at indexing
            rows += record_rows({"key": key, "status": status, "reason": reason, "rows": []})
        elif (record := read_record(Path(faces_root), key)) is not None:
            rows += record_rows(record)
    frame = pd.DataFrame(rows, columns=FACE_COLUMNS[:11]).join(meta, on="key")
    frame["frame"] = frame["frame"].astype("int64")
    frame["label"] = frame["label"].astype("int8")
    return frame[FACE_COLUMNS].sort_values(["key", "frame"], kind="stable").reset_index(drop=True)
