"""The compare stage's work: any models against a reference, on the same test faces.

A compared model is one model (a run id, runs:/ or models:/ URI, a model folder) or a
study's variant picked by tags (`tags:dataset=ff,loss=bce,augment=none`: every finished
final training that carries them, its seeds pooled). Each one's predictions on each test
set come from an evaluation already in the store when it scored the very faces the test
set holds now (its faces_digest tag), else from a new evaluation run, a child of the
comparison's run. Every model after the first is compared with the first, on each test
set, by the paired test of evaluation.compare (the ablation's, one code path), with
Holm's correction over all the comparisons.
"""

from __future__ import annotations

from dataclasses import dataclass

import mlflow
import pandas as pd

from .. import queries, tracking
from ..errors import UserInputError
from ..faces.index import faces_digest
from ..model_refs import ModelRef, resolve
from . import compare, plots
from .config import EvaluateConfig, parse_test_sets
from .testset import load_test_set

TAGS = "tags:"  # a variant picked by tags, its seeds pooled
COLUMNS = ["model", "reference", "test_set", "difference", "low", "high", "p_value", "p_holm",
           "verdict", "real_videos", "fake_videos", "seeds_a", "seeds_b"]


@dataclass(frozen=True)
class Compared:
    """One side of a comparison: its name as typed, and its models (one per seed)."""
    name: str
    refs: tuple[ModelRef, ...]


def resolve_model(spec: str) -> Compared:
    """A model as the user named it, or a variant by its tags (every seed)."""
    spec = spec.strip()
    if not spec.startswith(TAGS):
        return Compared(spec, (resolve(spec),))
    tags = {}
    for pair in spec.removeprefix(TAGS).split(","):
        key, sep, value = pair.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise UserInputError(f"{spec!r}: expected tags:KEY=VALUE,KEY=VALUE (e.g. "
                                 "tags:dataset=ff,loss=bce,augment=none)")
        tags[key.strip()] = value.strip().lower()
    runs = queries.final_trainings(status="FINISHED", **tags)
    if not runs:
        raise UserInputError(f"{spec!r}: no finished training carries these tags in "
                             f"{mlflow.get_tracking_uri()}")
    return Compared(spec, tuple(resolve(run.info.run_id) for run in reversed(runs)))


def earlier_predictions(ref: ModelRef, test: str, digest: str, split: str) -> str | None:
    """A finished evaluation of this model's training run that scored these very faces
    (and logged its predictions), or None."""
    from .predictions import predictions
    if not ref.run_id:
        return None
    for run in queries.runs({"stage": "evaluate", "train_run_id": ref.run_id,
                             f"faces_digest/{test}": digest}, params={"split": split},
                            status="FINISHED"):
        try:
            predictions(run.info.run_id, test)
        except UserInputError:  # an evaluation without its predictions (deleted)
            continue
        return run.info.run_id
    return None


def scored(side: Compared, tests: dict, cfg: EvaluateConfig) -> tuple[dict, int]:
    """test set -> the side's predictions (one table per seed); and how many evaluations
    were reused."""
    from .predictions import predictions
    from .evaluate import evaluate
    found: dict[str, list[pd.DataFrame]] = {name: [] for name in tests}
    reused = 0
    for ref in side.refs:
        for name, index in tests.items():
            run_id = earlier_predictions(ref, name, faces_digest(index), cfg.split)
            if run_id is None:
                table = evaluate(EvaluateConfig(ref.reference, {name: index}, split=cfg.split,
                                                robustness="none", mds="none",
                                                bootstrap=cfg.bootstrap, seed=cfg.seed,
                                                device=cfg.device, precision=cfg.precision))
                run_id = table["eval_run_id"].iloc[0]
            else:
                reused += 1
            found[name].append(predictions(run_id, name))
    return found, reused


def check_same_faces(a: Compared, b: Compared, test: str, tables_a, tables_b) -> None:
    """Every prediction table of both sides holds the same faces; else the comparison
    would rest on the faces they happen to share."""
    faces = [frozenset(zip(t["key"], t["frame"])) for t in [*tables_a, *tables_b]]
    if len(set(faces)) > 1:
        raise UserInputError(f"{test}: {a.name} and {b.name} were scored on different faces "
                             f"({len(faces[0])} and {len(faces[-1])}); score both on the "
                             "test set as it is now")


def compare_models(specs: list[str], cfg: EvaluateConfig) -> pd.DataFrame:
    """The comparison table (one row per model and test set, against the first model),
    logged to the active run with its forest plot and metrics."""
    if len(specs) < 2:
        raise UserInputError(f"compare needs two or more models, got {len(specs)}")
    tests = parse_test_sets(cfg.datasets)
    for name, index in tests.items():  # each test set checked before any model is scored
        load_test_set(name, index, cfg.split)
    sides = [resolve_model(spec) for spec in specs]
    scores, reused = {}, 0
    for side in sides:
        scores[side.name], n = scored(side, tests, cfg)
        reused += n
    reference = sides[0]

    def pairs():
        for side in sides[1:]:
            for test in tests:
                check_same_faces(side, reference, test, scores[side.name][test],
                                 scores[reference.name][test])
                yield ({"model": side.name, "reference": reference.name, "test_set": test},
                       scores[side.name][test], scores[reference.name][test])

    table = compare.compare_pairs(pairs(), seed=cfg.seed)[COLUMNS]
    log_comparison(table, reused)
    return table


def metric_key(text: str) -> str:
    """A model's name as part of a metric name (MLflow allows letters, digits, _-./ and
    spaces): the characters of URIs and tag lists it refuses become _."""
    import re
    return re.sub(r"[^A-Za-z0-9_\-./ ]", "_", text)


def log_comparison(table: pd.DataFrame, reused: int) -> None:
    """comparison.csv, the forest plot and a metric per comparison on the active run."""
    tracking.logs.log_dataframe(table, "comparison.csv")
    plots.log(plots.forest(table), "comparison.png")
    metrics = {f"auc_difference/{metric_key(r.model)}/{r.test_set}": r.difference
               for r in table.itertuples()}
    for word in (compare.BETTER, compare.WORSE, compare.TIED):
        metrics[f"comparisons_{word.replace(' ', '_')}"] = int((table["verdict"] == word).sum())
    metrics["reused_evaluations"] = reused
    mlflow.log_metrics(metrics)
