"""The demo corpus: four small datasets in the real layouts, made from real faces."""

from __future__ import annotations

import json
import time
from pathlib import Path

from .. import config
from .build import LOOKS, MIN_SIZE, WRITERS, build_corpus, check_size


def run_corpus(out: str | Path, size: int = config.DEMO_CORPUS_SIZE,
               seed: int = config.DEFAULT_SEED) -> Path:
    """Build the corpus as one tracked run: params, the manifest, size and time."""
    import mlflow

    from .. import tracking

    check_size(int(size))  # refuse before a run is opened
    with tracking.stage_run("corpus", run_name="corpus", params={"size": size, "seed": seed,
                                                                 "out": str(Path(out).resolve())}):
        started = time.perf_counter()
        manifest = build_corpus(out, size=size, seed=seed)
        mlflow.log_artifact(str(manifest))
        videos = json.loads(manifest.read_text())["videos"]
        size_bytes = sum(p.stat().st_size for p in Path(out).rglob("*") if p.is_file())
        mlflow.log_metrics({"videos": len(videos), "corpus_mb": size_bytes / 2**20,
                            "seconds": time.perf_counter() - started})
    return manifest


__all__ = ["LOOKS", "MIN_SIZE", "WRITERS", "build_corpus", "run_corpus"]
