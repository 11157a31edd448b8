"""The `index` stage: a dataset root on disk -> videos.parquet + one MLflow run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .. import config
from ..datasets import DATASETS
from ..options import at_least, option

HELP = "index a dataset root into videos.parquet (one MLflow run)"
EXAMPLES = """\
    deepfake-mlflow index ff /data/FaceForensics++
    deepfake-mlflow index dfdc /data/dfdc --probe
"""


@dataclass(frozen=True)
class IndexConfig:
    dataset: str = option(choices=tuple(DATASETS), help="dataset layout")
    root: str = option(help="the dataset's root folder, as it unpacks")
    out: str = option("", help="index file (default workspace/<dataset>/videos.parquet)")
    seed: int = option(config.DEFAULT_SEED, help="seed of the split rules that draw")
    probe: bool = option(False, help="also read frame count, fps and size of every video")
    workers: int = option(0, help="probe threads (0: one per core)")
    compression: str = option("", choices=("",) + config.COMPRESSIONS,
                              help=f"ff/dfd only ({config.DEFAULT_COMPRESSION} when empty)")
    official_splits: str = option("", help="ff only: folder with FF++'s train.json, val.json, "
                                           "test.json")
    split_shares: str = option("", help="ff (without official splits) and dfd: train:val:test "
                                        "weights of the seeded split over groups (default "
                                        "720:140:140, the protocol's)")
    split_csv: str = option("", help="folder only: CSV with columns path,split")

    def __post_init__(self):
        from ..datasets.splits import parse_shares
        at_least(self, 0, "workers")
        parse_shares(self.split_shares)  # a bad value is named before any work

    def index_path(self) -> Path:
        from .. import paths
        return Path(self.out) if self.out else paths.index_path(self.dataset)

    def dataset_options(self) -> dict:
        return {k: v for k, v in (("compression", self.compression),
                                  ("official_splits", self.official_splits),
                                  ("split_shares", self.split_shares),
                                  ("split_csv", self.split_csv)) if v}


CONFIG = IndexConfig


def run(cfg: IndexConfig):
    """Index cfg.root as cfg.dataset, write the Parquet index, and track it as one run;
    returns the datasets.IndexResult (frame and notes)."""
    import mlflow

    from .. import datasets, tracking
    from ..datasets import schema
    from ..vocabulary import VideoStatus

    root = Path(cfg.root).resolve()
    out = cfg.index_path()
    result = datasets.build_index(cfg.dataset, root, cfg.seed, probe_videos=cfg.probe,
                                  workers=cfg.workers or None, **cfg.dataset_options())
    frame = result.frame
    frame.attrs["root"] = str(root)  # kept in the Parquet file: extract checks it
    schema.save(frame, out)
    params = {"dataset": cfg.dataset, "root": str(root), "split_rule": result.split_rule,
              "seed": cfg.seed, "probe": cfg.probe, "index_path": str(out.resolve()),
              **cfg.dataset_options()}
    with tracking.runs.stage_run("index", run_name=f"index-{cfg.dataset}",
                                 tags={"dataset": cfg.dataset}, params=params):
        if len(frame):
            tracking.logs.log_index_input(frame, source=str(root), name=f"{cfg.dataset}-videos",
                                          context="index")
        summary = schema.split_summary(frame)
        tracking.logs.log_dataframe(summary, "split_summary.csv")
        mlflow.log_artifact(str(out), artifact_path="index")
        if result.notes:
            mlflow.log_text("\n".join(result.notes) + "\n", "notes.txt")
        usable = frame[frame["status"] == VideoStatus.OK]
        metrics = {"videos": len(frame), "videos_ok": len(usable),
                   "videos_not_ok": len(frame) - len(usable)}
        for split in config.SPLITS:
            part = usable[usable["split"] == split]
            metrics[f"videos_{split}_real"] = int((part["label"] == config.REAL).sum())
            metrics[f"videos_{split}_fake"] = int((part["label"] == config.FAKE).sum())
        mlflow.log_metrics(metrics)
    return result


def report(result) -> int:
    """The split summary on stdout, the index's notes on stderr."""
    import sys

    from ..datasets import schema
    print(schema.split_summary(result.frame).to_string(index=False))
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    return 0
