"""The `corpus` stage: the demo corpus (four small datasets in the real layouts, made from
real faces; deepfake_mlflow.corpus) written as one tracked run."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from .. import config
from ..options import option

HELP = "write the demo corpus: four small datasets from real faces"
EXAMPLES = """\
    deepfake-mlflow corpus demo/corpus
    deepfake-mlflow corpus demo/corpus --size 12
"""


@dataclass(frozen=True)
class CorpusConfig:
    out: str = option(help="folder for the four datasets")
    size: int = option(config.DEMO_CORPUS_SIZE,
                       help="scale of the corpus: about this many real videos per dataset")
    seed: int = option(config.DEFAULT_SEED, help="seed of identities, looks and splits")

    def __post_init__(self):
        from ..corpus import check_size
        check_size(self.size)


CONFIG = CorpusConfig


def run(cfg: CorpusConfig) -> Path:
    """Build the corpus; returns its manifest. Logs params, the manifest, size and time."""
    import mlflow

    from .. import tracking
    from ..corpus import build_corpus

    out = Path(cfg.out)
    with tracking.runs.stage_run("corpus", run_name="corpus",
                                 params={"size": cfg.size, "seed": cfg.seed,
                                         "out": str(out.resolve())}):
        started = time.perf_counter()
        manifest = build_corpus(out, size=cfg.size, seed=cfg.seed)
        mlflow.log_artifact(str(manifest))
        videos = json.loads(manifest.read_text())["videos"]
        size_bytes = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
        mlflow.log_metrics({"videos": len(videos), "corpus_mb": size_bytes / 2**20,
                            "seconds": time.perf_counter() - started})
    return manifest


def report(manifest) -> int:
    written = json.loads(Path(manifest).read_text())["videos"]
    datasets = sorted({v["dataset"] for v in written})
    print(f"wrote {len(written)} videos of {len(datasets)} datasets ({', '.join(datasets)}) "
          f"under {Path(manifest).parent}; manifest: {manifest}")
    return 0
