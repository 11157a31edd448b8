"""The `demo` stage (`make demo`): the paper's whole study, scaled down, on the demo corpus.

One parent MLflow run (`demo`, experiment deepfake-demo) holds every step as a child run:
the corpus, an index and an extract run per dataset, then every step of the demo study
file (deepfake_mlflow/studies/demo.yaml, run by the reproduce stage's steps): the grid of
Tables I-IV (BCE and triplet, with and without the SELECTED augmentations, on each of the
four datasets), the cross-dataset matrix with Celeb-DF's MDS projections (Fig. 2), the
data-limited curves (Fig. 1), the single-augmentation ablation on DFDC (Fig. 3), the
champions and their robustness. A second `make demo` reopens the same parent and reuses
every finished step.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from .. import config, paths
from ..options import option
from ..scoped_env import scoped_env
from . import corpus, extract, index

log = logging.getLogger(__name__)

HELP = "the whole study, scaled down, on the demo corpus"
EXAMPLES = """\
    deepfake-mlflow demo --out demo
"""
STUDY = "demo"  # deepfake_mlflow/studies/demo.yaml


@dataclass(frozen=True)
class DemoConfig:
    out: str = option("demo", help="folder for the corpus and working files")
    size: int = option(config.DEMO_CORPUS_SIZE,
                       help="scale of the corpus: about this many real videos per dataset")
    seed: int = option(config.DEFAULT_SEED, help="seed of the corpus and splits")
    test_frames: int = option(config.DEMO_TEST_FRAMES,
                              help="frames extracted per test video (training videos get "
                                   f"the protocol's {config.FRAMES_PER_VIDEO})")
    study: str = option(STUDY, help="the study run on the corpus: demo, or a YAML study file")

    def __post_init__(self):
        from .reproduce import ReproduceConfig
        corpus.CorpusConfig(self.out, self.size, self.seed)  # the same size check, now
        extract.ExtractConfig("ff", self.out, test_frames=self.test_frames)
        ReproduceConfig(self.study)  # a bad study file is named before any work


CONFIG = DemoConfig


@contextlib.contextmanager
def stage(what: str):
    """One console line per stage of the study, with its time."""
    started = time.perf_counter()
    yield
    log.info("%-52s %6.0f s", what, time.perf_counter() - started)


def prepare(cfg: DemoConfig, out: Path) -> dict:
    """The corpus, then each dataset indexed and its faces extracted into out/workspace."""
    from ..corpus import WRITERS, index_options  # all four layouts (imports OpenCV)
    results = {}
    with stage(f"corpus: {len(WRITERS)} datasets at size {cfg.size}"):
        corpus.run(corpus.CorpusConfig(str(out / "corpus"), cfg.size, cfg.seed))
    for dataset in WRITERS:
        videos = paths.index_path(dataset, out / "workspace")
        root = str(out / "corpus" / dataset)
        with stage(f"index and extract {dataset}"):
            results[dataset] = index.run(index.IndexConfig(
                dataset, root, out=str(videos), seed=cfg.seed, probe=True,
                **index_options(out / "corpus", dataset)))
            extract.run(extract.ExtractConfig(dataset, root, index=str(videos),
                                              test_frames=cfg.test_frames))
    return results


def run(cfg: DemoConfig) -> dict:
    """The demo; returns each dataset's index result, the study's results (grid, matrix,
    data_limited, ablation, champions, counts, failed), a video to try predict on, the
    parent run id and the seconds it took."""
    import mlflow

    from .. import tracking
    from ..study.coordinator import parent_run_id, run_steps
    from .reproduce import ReproduceConfig

    out = Path(cfg.out)
    study = ReproduceConfig(cfg.study)
    plan = study.study_plan()
    started = time.perf_counter()
    where = str(out.resolve())
    with tracking.runs.stage_run("demo", run_name="demo", tags={"study": plan.name},
                                 run_id=parent_run_id("demo", plan.name, {"out": where}),
                                 params={"size": cfg.size, "seed": cfg.seed, "study": plan.name,
                                         "test_frames": cfg.test_frames,
                                         "out": where}) as parent:
        indexed = prepare(cfg, out)
        # the study reads its faces from the demo's workspace (paths.workspace())
        with scoped_env(DEEPFAKE_MLFLOW_WORKSPACE=str((out / "workspace").resolve())):
            results = run_steps(plan, study.path(), out / "report")
        mlflow.log_metric("demo_seconds", time.perf_counter() - started)
    example = None
    if results.get("champions"):
        example = next((out / "corpus" / results["champions"][0]["dataset"]).rglob("*.mp4"))
    return {"indexed": indexed, **results, "example_video": example,
            "parent_run_id": parent.info.run_id, "seconds": time.perf_counter() - started}


def report(result) -> int:
    """How long the demo took, the study's findings, and where to look next."""
    import mlflow

    from ..tracking.store import ui_runs_url
    from .reproduce import report_study
    counts = result["counts"]
    print(f"\ndemo finished in {result['seconds']:.0f} s: {counts['trained']} trainings run, "
          f"{counts['reused']} reused; parent run {result['parent_run_id']}")
    code = report_study(result)
    if result["example_video"] is not None:
        print(f"score a video: deepfake-mlflow predict {result['champions'][0]['uri']} "
              f"{result['example_video']}")
    experiment = mlflow.get_run(result["parent_run_id"]).info.experiment_id
    print(f"browse the runs: mlflow ui --backend-store-uri {mlflow.get_tracking_uri()} "
          f"(or make ui), then open {ui_runs_url(experiment)}")
    return code
