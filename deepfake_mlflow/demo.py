"""`make demo`: the study, scaled down, on the demo corpus, as one parent MLflow run.

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
from dataclasses import replace
from pathlib import Path

import mlflow

from . import config, registry, tracking
from .corpus import WRITERS, run_corpus
from .evaluation import run_evaluate
from .extraction import run_extract
from .indexing import run_index
from .train import TrainConfig, run_train

log = logging.getLogger(__name__)


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
        base = TrainConfig(dataset=dataset, faces=str(workspace / "faces.parquet"),
                           augment=aug, seed=seed, **scale)
        with stage(f"train {dataset}, bce, {aug.lower()}"):
            bce = run_train(base)
        with stage(f"train {dataset}, triplet, {aug.lower()}"):
            triplet = run_train(replace(base, loss="triplet", init=bce["run_id"]))
        runs[aug] = {"bce": bce["run_id"], "triplet": triplet["run_id"]}
    return runs


def evaluate_and_promote(trained: dict, workspace: Path, seed: int) -> list[dict]:
    """The matrix of every trained variant, then the champions and their robustness."""
    tests = {d: workspace / d / "faces.parquet" for d in WRITERS}
    models = [run for grid in trained.values() for losses in grid.values()
              for run in losses.values()]
    with stage(f"evaluate {len(models)} models on {len(tests)} test sets"):
        table = run_evaluate(models, tests, seed=seed, **config.DEMO_EVAL)
    with stage("promote the champion of each dataset"):
        champions = registry.promote(list(trained))
    for champion in champions:
        with stage(f"robustness of the {champion['dataset']} champion"):
            run_evaluate(champion["uri"], {champion["dataset"]: tests[champion["dataset"]]},
                         robustness="all", mds="none", seed=seed, **config.DEMO_ROBUSTNESS)
    return table, champions


def run_demo(out: str | Path = "demo", size: int = config.DEMO_CORPUS_SIZE,
             seed: int = config.DEFAULT_SEED, train_datasets=tuple(WRITERS),
             train_scale: dict | None = None) -> dict:
    """The demo study; train_datasets and train_scale narrow it (for tests, quick looks)."""
    out = Path(out)
    scale = {**config.DEMO_TRAIN, **(train_scale or {})}
    started = time.perf_counter()
    results = {}
    with tracking.stage_run("demo", run_name="demo", params={"size": size, "seed": seed,
                                                             "out": str(out.resolve())}):
        with stage(f"corpus: {len(WRITERS)} datasets of {size} real videos"):
            run_corpus(out / "corpus", size=size, seed=seed)
        for dataset in WRITERS:
            index = out / "workspace" / dataset / "videos.parquet"
            with stage(f"index and extract {dataset}"):
                result = run_index(dataset, out / "corpus" / dataset, out=index, seed=seed,
                                   probe=True)
                run_extract(dataset, out / "corpus" / dataset, index=index)
            results[dataset] = {"index": result}
            if dataset in train_datasets:
                results[dataset]["train"] = train_grid(dataset, index.parent, seed, scale)
        trained = {d: r["train"] for d, r in results.items() if "train" in r}
        table, champions = (evaluate_and_promote(trained, out / "workspace", seed) if trained
                            else (None, []))
        mlflow.log_metric("seconds", time.perf_counter() - started)
    example = None
    if champions:
        example = next((out / "corpus" / champions[0]["dataset"]).rglob("*.mp4"))
    return {**results, "champions": champions, "matrix": table, "example_video": example,
            "seconds": time.perf_counter() - started}
