"""The `extract` stage: a video index -> face crops + faces.parquet + one MLflow run.

Videos are spread over worker processes (one BlazeFace each); results stream back one
video at a time, so memory stays flat however many videos there are. `--shard k/n` makes
this machine's share of the videos (faces.index.shard_of).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from .. import config
from ..datasets import DATASETS
from ..options import at_least, option, require

log = logging.getLogger(__name__)

HELP = "BlazeFace faces of every video (one MLflow run)"
EXAMPLES = """\
    deepfake-mlflow extract ff /data/FaceForensics++
    deepfake-mlflow extract dfdc /data/dfdc --shard 1/4   # this machine's quarter
"""


@dataclass(frozen=True)
class ExtractConfig:
    dataset: str = option(choices=tuple(DATASETS), help="dataset layout")
    root: str = option(help="the dataset's root folder (the one given to index)")
    index: str = option("", help="video index (default workspace/<dataset>/videos.parquet; "
                                 "built first if missing)")
    out: str = option("", help="folder for faces/ and faces.parquet (default: the index's "
                               "folder)")
    frames: int = option(config.FRAMES_PER_VIDEO, help="frames sampled per video, evenly spaced")
    test_frames: int = option(0, help="frames sampled per video of the test split (0: --frames); "
                                      "fewer makes a quick look cheaper: an AUC's interval "
                                      "comes from the number of videos")
    size: int = option(config.FACE_SIZE, help="side of the square face crops, in pixels")
    margin: float = option(config.FACE_MARGIN, help="crop side = (1 + margin) x the face box's "
                                                    "longer side")
    quality: int = option(config.FACE_JPEG_QUALITY, help="JPEG quality of the crops")
    detector: str = option(config.DETECTOR_MODEL, help="BlazeFace model: full, short, or a "
                                                       ".tflite path")
    min_confidence: float = option(config.DETECTOR_MIN_CONFIDENCE,
                                   help="lowest BlazeFace score taken as a face")
    reader: str = option(config.VIDEO_READERS[0], choices=config.VIDEO_READERS,
                         help="video decoder")
    workers: int = option(0, help="processes (0: one per core)")
    shard: str = option("1/1", help="k/n: this machine's share of the videos")
    merge: bool = option(False, help="merge the shards' faces-k-of-n.parquet into "
                                     "faces.parquet (every video in exactly one shard)")
    progress: bool = option(True, help="progress bar on a terminal")

    def __post_init__(self):
        from ..faces.index import parse_shard
        at_least(self, 1, "frames")
        at_least(self, 0, "test_frames")
        at_least(self, config.MIN_FACE_SIZE, "size")
        require(0 <= self.margin <= config.MAX_FACE_MARGIN, "margin",
                f"a number from 0 to {config.MAX_FACE_MARGIN}", self.margin)
        require(1 <= self.quality <= 100, "quality", "a JPEG quality from 1 to 100",
                self.quality)
        require(0 < self.min_confidence <= 1, "min_confidence", "a score in (0, 1]",
                self.min_confidence)
        at_least(self, 0, "workers")
        parse_shard(self.shard)

    def settings(self):
        """How the faces are made (recorded beside faces.parquet, read by the logged model)."""
        from dataclasses import fields

        from ..faces.extract import ExtractSettings
        # the extract options of the same names (ExtractSettings' defaults are config's too)
        return ExtractSettings(**{f.name: getattr(self, f.name) for f in fields(ExtractSettings)})

    def index_path(self) -> Path:
        from .. import paths
        return Path(self.index) if self.index else paths.index_path(self.dataset)

    def out_folder(self) -> Path:
        return Path(self.out) if self.out else self.index_path().parent


CONFIG = ExtractConfig


def run(cfg: ExtractConfig):
    """The tracked extract step; returns the faces index (one row per sampled frame).
    Builds the video index first if it does not exist yet."""
    from .. import assets, paths
    from ..datasets import schema
    from ..faces import detector as blazeface
    from ..faces.index import faces_index_path, shard_of
    from . import index as index_stage

    root = Path(cfg.root).resolve()
    index, out = cfg.index_path(), cfg.out_folder()
    if cfg.merge:
        return _merge(cfg, index, out)
    target = faces_index_path(out, cfg.shard)
    # one writer per faces index: a second extract of the same shard is refused at once
    with paths.exclusive(target.with_suffix(".lock"), f"{target}"):
        if not index.is_file():
            index_stage.run(index_stage.IndexConfig(cfg.dataset, str(root), out=str(index)))
        videos = schema.load(index)
        _check_root(videos, index, root)
        videos = shard_of(videos, cfg.shard)
        settings = cfg.settings()
        model_file = blazeface.model_path(settings.detector)
        faces_root = paths.faces_root(out / paths.FACES_INDEX)
        _check_settings(out, faces_root, settings)
        settings.save(out)  # before any face: a killed run's faces are described too
        params = {"dataset": cfg.dataset, "root": str(root), "index": str(index.resolve()),
                  "out": str(out.resolve()), **settings.as_params(),
                  "detector_file": model_file.name,
                  "detector_sha256": assets.file_sha256(model_file),
                  "workers": cfg.workers or os.cpu_count() or 1, "shard": cfg.shard}
        return _extract(cfg, videos, root, faces_root, target, settings, params)


def _merge(cfg: ExtractConfig, index: Path, out: Path):
    """The shards' faces indexes joined into faces.parquet, as one tracked run."""
    import mlflow

    from .. import paths, tracking
    from ..datasets import schema
    from ..faces.index import merge_shards

    target = out / paths.FACES_INDEX
    with paths.exclusive(target.with_suffix(".lock"), f"{target}"):
        faces, shards = merge_shards(out, schema.load(index))
        with tracking.runs.stage_run("extract", run_name=f"merge-{cfg.dataset}",
                                     tags={"dataset": cfg.dataset},
                                     params={"dataset": cfg.dataset, "index": str(index.resolve()),
                                             "out": str(out.resolve()), "shards": shards}):
            schema.save(faces, target)
            mlflow.log_metrics({"videos": faces["key"].nunique(), "rows": len(faces),
                                "shards": shards})
            tracking.logs.log_index_input(faces, source=str(target.resolve()),
                                          name=f"{cfg.dataset}-faces", context="extract")
    log.info("%s: %d shards merged, %d videos; faces index %s", cfg.dataset, shards,
             faces["key"].nunique(), target)
    return faces


def _check_root(videos, index: Path, root: Path) -> None:
    """Refuse to extract ROOT's videos through an index made from another root."""
    from ..errors import UserInputError
    from ..vocabulary import VideoStatus

    indexed = videos.attrs.get("root")
    if indexed is None:  # an index written before roots were recorded: look on disk
        listed = videos.loc[videos["status"] == VideoStatus.OK, "path"]
        absent = sum(not (root / p).is_file() for p in listed)
        if not listed.empty and absent > len(listed) // 2:
            raise UserInputError(f"{index}: {absent} of its {len(listed)} videos are not "
                                 f"under {root}: it indexes another root; pass --index and "
                                 "--out for a workspace of this root's own")
    elif Path(indexed) != root:
        raise UserInputError(f"{index} indexes {indexed}, not {root}: pass --index and --out "
                             "for a workspace of this root's own, or re-index into a new file")


def _check_settings(out: Path, faces_root: Path, settings) -> None:
    """Refuse to add faces made one way to faces made another way."""
    from ..errors import UserInputError
    from ..faces.extract import SETTINGS_FILE, ExtractSettings

    if not (out / SETTINGS_FILE).is_file() or not faces_root.is_dir():
        return
    before = ExtractSettings.of_faces(out)
    changed = before.differences(settings)
    if changed and any(faces_root.iterdir()):
        raise UserInputError(f"{faces_root} holds faces extracted with other settings ("
                             + ", ".join(changed) + "): pass --out for a folder of their own, "
                             f"or delete {faces_root} to extract anew")


def _extract(cfg: ExtractConfig, videos, root: Path, faces_root: Path, target: Path,
             settings, params: dict):
    import mlflow

    from .. import tracking
    from ..datasets import schema
    from ..faces.extract import contact_sheet
    from ..faces.index import faces_index
    from ..faces.pool import extract_faces
    from ..vocabulary import VideoStatus

    workers = params["workers"]
    with tracking.runs.stage_run("extract", run_name=f"extract-{cfg.dataset}",
                                 tags={"dataset": cfg.dataset}, params=params):
        timing = extract_faces(videos, root, faces_root, settings, workers, cfg.progress)
        faces = faces_index(videos, faces_root)
        schema.save(faces, target)
        per_video = faces.groupby("key")["video_status"].first()
        sampled = faces[faces["frame"] >= 0]
        metrics = {"videos": len(per_video), "videos_processed": timing["processed"],
                   "videos_resumed": timing["resumed"], "seconds": timing["seconds"],
                   "videos_per_s": timing["videos_per_s"], "frames_per_s": timing["frames_per_s"],
                   "face_found_ratio": float((sampled["face_path"] != "").mean())
                   if len(sampled) else 0.0}
        counts = per_video.value_counts()
        metrics.update({f"videos_{s}": int(counts.get(s, 0)) for s in VideoStatus})
        mlflow.log_metrics(metrics)
        if len(faces):
            tracking.logs.log_index_input(faces, source=str(target.resolve()),
                                          name=f"{cfg.dataset}-faces", context="extract")
        failures = (faces[faces["video_status"] != VideoStatus.OK].groupby("key").first()
                    .reset_index()[["key", "video_status", "video_reason"]])
        tracking.logs.log_dataframe(failures, "failures.csv")
        if (faces["face_path"] != "").any():
            mlflow.log_image(contact_sheet(faces_root, faces), "contact_sheet.png")
    log.info("%s: %d videos, %d extracted now, %d already done; face found in %.1f%% of "
             "sampled frames; faces index %s", cfg.dataset, metrics["videos"],
             metrics["videos_processed"], metrics["videos_resumed"],
             100 * metrics["face_found_ratio"], target)
    return faces


def report(result) -> int:
    """Nothing more: the progress bar and the log lines said it all."""
    return 0
