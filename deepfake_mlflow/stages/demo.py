"""The `demo` stage (`make demo`): the study, scaled down, on the demo corpus, as one parent MLflow run.

The corpus, then for each of the four datasets: an index run, an extract run, and the
training grid of the paper at CPU scale (BCE and triplet, each with NONE and SELECTED
augmentation; the triplet runs start from the BCE model with the same augmentation).
Then every trained variant is evaluated on every test set (one parent run holding the
cross-dataset matrix, the paper's Tables I-IV, and the MDS projections of Celeb-DF, Fig.
2), the lowest-validation-loss model of each dataset becomes its registered champion, and
each champion's robustness curves are measured on its own test set.
All are child runs of one `demo` run.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path

from .. import config, paths
from ..corpus import WRITERS
from . import corpus, evaluate, extract, index, promote, train
from ..vocabulary import Loss
from .options import option

log = logging.getLogger(__name__)

HELP = "the whole study, scaled down, on the demo corpus"
DATASETS = tuple(WRITERS)  # the corpus writes all four layouts


@dataclass(frozen=True)
class DemoConfig:
    out: str = option("demo", help="folder for the corpus and working files")
    size: int = option(config.DEMO_CORPUS_SIZE, help="real videos per dataset")
    seed: int = option(config.DEFAULT_SEED, help="seed of the corpus, splits and training")
    # narrower studies, for tests and quick looks (not on the command line)
    train_datasets: tuple = option(DATASETS, cli=False)
    train_scale: dict = option(factory=dict, cli=False)

    def __post_init__(self):
        corpus.CorpusConfig(self.out, self.size, self.seed)  # the same size check, now


CONFIG = DemoConfig


@contextlib.contextmanager
def stage(what: str):
    """One console line per stage of the study, with its time."""
    started = time.perf_counter()
    yield
    log.info("%-44s %6.0f s", what, time.perf_counter() - started)


def train_grid(dataset: str, workspace: Path, seed: int, scale: dict) -> dict:
    """BCE and triplet x NONE and SELECTED, at the demo's scale (config.DEMO_TRAIN)."""
    runs = {}
    for aug in config.DEMO_AUGMENTATIONS:
        base = train.TrainConfig(dataset=dataset,
                                 faces=str(paths.faces_index_path(dataset, workspace)),
                                 augment=aug, seed=seed, **scale)
        with stage(f"train {dataset}, bce, {aug.lower()}"):
            bce = train.run(base)
        with stage(f"train {dataset}, triplet, {aug.lower()}"):
            triplet = train.run(replace(base, loss=Loss.TRIPLET, init=bce["run_id"]))
        runs[aug] = {Loss.BCE: bce["run_id"], Loss.TRIPLET: triplet["run_id"]}
    return runs


def evaluate_and_promote(trained: dict, workspace: Path, seed: int) -> list[dict]:
    """The matrix of every trained variant, then the champions and their robustness."""
    tests = {d: paths.faces_index_path(d, workspace) for d in DATASETS}
    models = tuple(run for grid in trained.values() for losses in grid.values()
                   for run in losses.values())
    with stage(f"evaluate {len(models)} models on {len(tests)} test sets"):
        table = evaluate.run(evaluate.EvaluateConfig(models, tests, seed=seed,
                                                     **config.DEMO_EVAL))
    with stage("promote the champion of each dataset"):
        champions = promote.run(promote.PromoteConfig(tuple(trained)))
    for champion in champions:
        with stage(f"robustness of the {champion['dataset']} champion"):
            evaluate.run(evaluate.EvaluateConfig(
                champion["uri"], {champion["dataset"]: tests[champion["dataset"]]},
                robustness="all", mds="none", seed=seed, **config.DEMO_ROBUSTNESS))
    return table, champions


def run(cfg: DemoConfig) -> dict:
    """The demo study; returns per dataset its index result and trained run ids, and the
    champions, the matrix, a video to try predict on, and the seconds it took."""
    import mlflow

    from .. import tracking

    out = Path(cfg.out)
    scale = {**config.DEMO_TRAIN, **cfg.train_scale}
    started = time.perf_counter()
    results = {}
    with tracking.stage_run("demo", run_name="demo", params={"size": cfg.size, "seed": cfg.seed,
                                                             "out": str(out.resolve())}):
        with stage(f"corpus: {len(DATASETS)} datasets of {cfg.size} real videos"):
            corpus.run(corpus.CorpusConfig(str(out / "corpus"), cfg.size, cfg.seed))
        for dataset in DATASETS:
            videos = paths.index_path(dataset, out / "workspace")
            root = str(out / "corpus" / dataset)
            with stage(f"index and extract {dataset}"):
                result = index.run(index.IndexConfig(dataset, root, out=str(videos),
                                                     seed=cfg.seed, probe=True))
                extract.run(extract.ExtractConfig(dataset, root, index=str(videos)))
            results[dataset] = {"index": result}
            if dataset in cfg.train_datasets:
                results[dataset]["train"] = train_grid(dataset, out / "workspace", cfg.seed,
                                                       scale)
        trained = {d: r["train"] for d, r in results.items() if "train" in r}
        table, champions = (evaluate_and_promote(trained, out / "workspace", cfg.seed)
                            if trained else (None, []))
        mlflow.log_metric("seconds", time.perf_counter() - started)
    example = None
    if champions:
        example = next((out / "corpus" / champions[0]["dataset"]).rglob("*.mp4"))
    return {**results, "champions": champions, "matrix": table, "example_video": example,
            "seconds": time.perf_counter() - started}
