"""The `index` step: a dataset root on disk -> videos.parquet + one MLflow run."""

from __future__ import annotations

from pathlib import Path

import mlflow

from . import config, datasets, paths, tracking
from .datasets import schema


def run_index(dataset: str, root: str | Path, out: str | Path | None = None,
              seed: int = config.DEFAULT_SEED, probe: bool = False,
              workers: int | None = None, **options) -> datasets.IndexResult:
    """Index `root` as `dataset`, write the Parquet index, and track it as one run."""
    root = Path(root).resolve()
    out = Path(out) if out else paths.index_path(dataset)
    result = datasets.build_index(dataset, root, seed, probe_videos=probe, workers=workers,
                                  **options)
    frame = result.frame
    schema.save(frame, out)
    params = {"dataset": dataset, "root": str(root), "split_rule": result.split_rule,
              "seed": seed, "probe": probe, "index_path": str(out.resolve()),
              **{k: v for k, v in options.items() if v not in (None, "")}}
    with tracking.stage_run("index", run_name=f"index-{dataset}",
                            tags={"dataset": dataset}, params=params):
        tracking.log_index_input(frame, source=str(root), name=f"{dataset}-videos",
                                 context="index")
        summary = schema.split_summary(frame)
        tracking.log_dataframe(summary, "split_summary.csv")
        mlflow.log_artifact(str(out), artifact_path="index")
        if result.notes:
            mlflow.log_text("\n".join(result.notes) + "\n", "notes.txt")
        usable = frame[frame["status"] == schema.STATUS_OK]
        metrics = {"videos": len(frame), "videos_ok": len(usable),
                   "videos_not_ok": len(frame) - len(usable)}
        for split in config.SPLITS:
            part = usable[usable["split"] == split]
            metrics[f"videos_{split}_real"] = int((part["label"] == config.REAL).sum())
            metrics[f"videos_{split}_fake"] = int((part["label"] == config.FAKE).sum())
        mlflow.log_metrics(metrics)
    return result
