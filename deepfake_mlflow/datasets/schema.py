"""The video index: one row per video, the same columns for every dataset layout.

Columns
-------
key      unique id: "<dataset>/<subset>/<stem>". The subset is part of the key because
         FF++ fakes share file names across methods (000_003.mp4 is in every method folder).
path     path of the video relative to the dataset root (POSIX separators)
label    0 real, 1 fake
split    train | val | test
dataset  ff | dfd | dfdc | celebdf | folder
subset   the folder group the layout gives (youtube, Deepfakes, dfdc_train_part_7, ...)
method   the manipulation for fakes; "original" for real videos
source   for a fake, the key of the real video its frames come from, where the layout tells
group    the unit the split rule assigned (an FF++ id pair, a DFD actor, a DFDC part, ...):
         no group is ever in two splits
status   ok | missing | unreadable   (listed videos that cannot be used stay, with a reason)
reason   why status is not ok, else ""
frames, fps, width, height   probe data (filled only when probing was asked for)
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .. import config
from ..errors import MalformedFileError, UserInputError
from ..paths import atomic_target
from ..vocabulary import VideoStatus

COLUMNS = ["key", "path", "label", "split", "dataset", "subset", "method", "source", "group",
           "status", "reason", "frames", "fps", "width", "height"]


def video_key(dataset: str, subset: str, path: str | Path) -> str:
    return f"{dataset}/{subset}/{Path(path).stem}"


def row(dataset: str, subset: str, path: str | Path, label: int, method: str,
        group: str, split: str | None = None, source: str = "") -> dict:
    """One index row with the probe fields empty and status ok."""
    rel = Path(path).as_posix()
    return {"key": video_key(dataset, subset, rel), "path": rel, "label": int(label),
            "split": split, "dataset": dataset, "subset": subset, "method": method,
            "source": source, "group": group, "status": VideoStatus.OK, "reason": ""}


def to_frame(rows: list[dict]) -> pd.DataFrame:
    """Rows to a DataFrame with the schema's columns, dtypes and a stable order."""
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["label"] = frame["label"].astype("int8")
    for col in ("frames", "width", "height"):
        frame[col] = frame[col].astype("Int64")
    frame["fps"] = frame["fps"].astype("Float64")
    for col in ("key", "path", "split", "dataset", "subset", "method", "source", "group",
                "status", "reason"):
        frame[col] = frame[col].fillna("").astype(str)
    frame = frame.sort_values("key", kind="stable").reset_index(drop=True)
    validate(frame)
    return frame


def validate(frame: pd.DataFrame) -> None:
    """The invariants every index keeps; a violation is a bug in an adapter."""
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"index lacks columns {missing}")
    dupes = frame["key"][frame["key"].duplicated()]
    if len(dupes):
        raise ValueError(f"duplicate video keys in index: {sorted(dupes)[:5]}")
    bad_split = set(frame["split"]) - set(config.SPLITS)
    if bad_split:
        raise ValueError(f"unknown splits {sorted(bad_split)}")
    if not set(frame["label"].unique()) <= {config.REAL, config.FAKE}:
        raise ValueError("labels must be 0 (real) or 1 (fake)")
    leaking = frame.groupby("group")["split"].nunique()
    if (leaking > 1).any():
        raise ValueError(f"groups in more than one split: {list(leaking[leaking > 1].index)[:5]}")


def save(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write the index as Parquet atomically (a killed write leaves the old file intact)."""
    path = Path(path)
    with atomic_target(path) as tmp:
        frame.to_parquet(tmp, index=False)
    return path


def read_table(path: str | Path, columns: list[str], what: str, only: bool = False,
               categories: tuple = ()) -> pd.DataFrame:
    """A Parquet table the project wrote (a video or faces index, a test set), or one line
    naming the file and what is wrong with it. only=True reads `columns` alone; the
    `categories` columns come as pandas categoricals (DFDC's 3.8M faces: a few split and
    status values, 119k keys), which read and compare several times faster than strings."""
    import pyarrow.parquet as pq
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"{path}: no {what} there")
    try:
        present = set(pq.read_schema(path).names)  # checked before reading any row
        missing = [c for c in columns if c not in present]
        if missing:
            raise MalformedFileError(path, f"not a {what}: lacks the columns {missing}")
        return pq.read_table(path, columns=list(columns) if only else None,
                             read_dictionary=list(categories) or None).to_pandas()
    except MalformedFileError:
        raise
    except Exception as err:  # pyarrow raises several types for a damaged file
        raise MalformedFileError(path, f"not a readable Parquet {what} "
                                       f"({type(err).__name__}): delete it and re-run the "
                                       "step that writes it") from None


def load(path: str | Path) -> pd.DataFrame:
    """The video index at `path`, checked."""
    frame = read_table(path, COLUMNS, "video index")
    try:
        validate(frame)
    except ValueError as err:
        raise MalformedFileError(path, f"not a valid video index: {err}") from None
    return frame


def split_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Counts of videos by split x label x method (and status), the table users check first."""
    table = (frame.assign(label=frame["label"].map({0: "real", 1: "fake"}))
             .groupby(["split", "label", "method", "status"], observed=True)
             .size().rename("videos").reset_index())
    order = {s: i for i, s in enumerate(config.SPLITS)}
    return table.sort_values(["split", "label", "method"],
                             key=lambda c: c.map(order) if c.name == "split" else c,
                             kind="stable").reset_index(drop=True)
