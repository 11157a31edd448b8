"""The `extract` step: a video index -> face crops + faces.parquet + one MLflow run.

Videos are spread over worker processes (one BlazeFace each); results stream back one
video at a time, so memory stays flat however many videos there are. `shard=k/n` takes
every n-th video of the key-sorted index from the k-th on, so n machines cover the dataset
with no overlap and no gap.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import mlflow
import pandas as pd

from . import assets, paths, tracking
from .datasets import schema
from .errors import UserInputError
from .faces import detector as blazeface
from .faces.extract import (STATUSES, ExtractSettings, contact_sheet, is_finished,
                            read_record, record_rows)
from .faces.pool import extract_faces

log = logging.getLogger(__name__)

FACE_COLUMNS = ["key", "frame", "timestamp", "x", "y", "w", "h", "score", "face_path",
                "video_status", "video_reason", "label", "split", "dataset", "subset",
                "method", "source"]


def parse_shard(shard: str) -> tuple[int, int]:
    try:
        k, n = (int(v) for v in str(shard).split("/"))
    except ValueError:
        raise UserInputError(f"shard {shard!r}: expected k/n, e.g. 2/8") from None
    if not 1 <= k <= n:
        raise UserInputError(f"shard {shard!r}: k must be between 1 and n")
    return k, n


def shard_of(videos: pd.DataFrame, shard: str) -> pd.DataFrame:
    k, n = parse_shard(shard)
    ordered = videos.sort_values("key").reset_index(drop=True)
    return ordered.iloc[k - 1 :: n].reset_index(drop=True)


# --- the step ------------------------------------------------------------------------------
def faces_index(videos: pd.DataFrame, faces_root: str | Path) -> pd.DataFrame:
    """One row per sampled frame of every video of `videos` (finished or failed before)."""
    meta = videos.set_index("key")[["label", "split", "dataset", "subset", "method", "source"]]
    rows = []
    for key, status, reason in zip(videos["key"], videos["status"], videos["reason"]):
        if status != schema.STATUS_OK:  # missing or unreadable already at indexing
            rows += record_rows({"key": key, "status": status, "reason": reason, "rows": []})
        elif is_finished(faces_root, key):
            rows += record_rows(read_record(Path(faces_root), key))
    frame = pd.DataFrame(rows, columns=FACE_COLUMNS[:11]).join(meta, on="key")
    frame["frame"] = frame["frame"].astype("int64")
    frame["label"] = frame["label"].astype("int8")
    return frame[FACE_COLUMNS].sort_values(["key", "frame"], kind="stable").reset_index(drop=True)


def faces_index_path(out: Path, shard: str) -> Path:
    k, n = parse_shard(shard)
    return out / ("faces.parquet" if n == 1 else f"faces-{k}-of-{n}.parquet")


def run_extract(dataset: str, root: str | Path, index: str | Path | None = None,
                out: str | Path | None = None, settings: ExtractSettings = ExtractSettings(),
                workers: int | None = None, shard: str = "1/1",
                progress: bool = True) -> pd.DataFrame:
    """The tracked extract step. Builds the video index first if it does not exist yet."""
    root = Path(root).resolve()
    index = Path(index) if index else paths.index_path(dataset)
    out = Path(out) if out else index.parent
    if not index.is_file():
        from .indexing import run_index
        run_index(dataset, root, out=index)
    videos = shard_of(schema.load(index), shard)
    if settings.frames < 1 or settings.size < 8 or not 1 <= settings.quality <= 100:
        raise UserInputError(f"extract settings out of range: {settings}")
    model_file = blazeface.model_path(settings.detector)
    faces_root = out / "faces"
    workers = workers or os.cpu_count() or 1
    params = {"dataset": dataset, "root": str(root), "index": str(index.resolve()),
              "out": str(out.resolve()), **settings.as_params(),
              "detector_file": model_file.name,
              "detector_sha256": assets.file_sha256(model_file),
              "workers": workers, "shard": shard}
    with tracking.stage_run("extract", run_name=f"extract-{dataset}",
                            tags={"dataset": dataset}, params=params):
        timing = extract_faces(videos, root, faces_root, settings, workers, progress)
        faces = faces_index(videos, faces_root)
        target = schema.save(faces, faces_index_path(out, shard))
        settings.save(out)
        per_video = faces.groupby("key")["video_status"].first()
        sampled = faces[faces["frame"] >= 0]
        metrics = {"videos": len(per_video), "videos_processed": timing["processed"],
                   "videos_resumed": timing["resumed"], "seconds": timing["seconds"],
                   "videos_per_s": timing["videos_per_s"], "frames_per_s": timing["frames_per_s"],
                   "face_found_ratio": float((sampled["face_path"] != "").mean())
                   if len(sampled) else 0.0}
        counts = per_video.value_counts()
        metrics.update({f"videos_{s}": int(counts.get(s, 0)) for s in STATUSES})
        mlflow.log_metrics(metrics)
        tracking.log_index_input(faces, source=str(target.resolve()), name=f"{dataset}-faces",
                                 context="extract")
        failures = (faces[faces["video_status"] != "ok"].groupby("key").first()
                    .reset_index()[["key", "video_status", "video_reason"]])
        tracking.log_dataframe(failures, "failures.csv")
        if (faces["face_path"] != "").any():
            mlflow.log_image(contact_sheet(faces_root, faces), "contact_sheet.png")
    log.info("%s: %d videos, %d extracted now, %d already done; face found in %.1f%% of "
             "sampled frames; faces index %s", dataset, metrics["videos"],
             metrics["videos_processed"], metrics["videos_resumed"],
             100 * metrics["face_found_ratio"], target)
    return faces
