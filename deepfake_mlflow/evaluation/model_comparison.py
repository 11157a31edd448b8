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

import dataclasses
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


PARAMS = "params."  # in a tags: spec, a condition on a param (params.train_videos=0)
# what may differ between the trainings a variant pools: the seed (and the BCE run a
# triplet starts from, its own seed's), and where they ran
POOLED_OVER = ("seed", "init", "device", "precision", "workers", "resume")


def resolve_model(spec: str) -> Compared:
    """A model as the user named it, or a variant by its tags (every seed): the trainings
    it pools must differ in their seed alone, else the spec is refused naming what
    differs (a data-limited training carries its variant's tags too)."""
    from ..naming import FINAL_TAG
    from ..train.config import TrainConfig
    spec = spec.strip()
    if not spec.startswith(TAGS):
        return Compared(spec, (resolve(spec),))
    tags, params = {}, {}
    for pair in spec.removeprefix(TAGS).split(","):
        key, sep, value = pair.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise UserInputError(f"{spec!r}: expected tags:KEY=VALUE,KEY=VALUE (e.g. "
                                 "tags:dataset=ff,loss=bce,augment=none,params.train_videos=0)")
        key = key.strip()
        if key.startswith(PARAMS):
            params[key.removeprefix(PARAMS)] = value.strip()
        else:
            tags[key] = value.strip().lower()
    runs = queries.runs({"stage": "train", FINAL_TAG: "true", **tags}, params=params,
                        status="FINISHED")
    if not runs:
        raise UserInputError(f"{spec!r}: no finished training carries these tags in "
                             f"{mlflow.get_tracking_uri()}")
    options = [f.name for f in dataclasses.fields(TrainConfig) if f.name not in POOLED_OVER]
    differ = {name: sorted({r.data.params.get(name, "") for r in runs}) for name in options}
    differ = {name: values for name, values in differ.items() if len(values) > 1}
    if differ:
        name, values = next(iter(differ.items()))
        raise UserInputError(
            f"{spec!r}: its {len(runs)} trainings differ in more than their seed ("
            + "; ".join(f"{k}: {', '.join(v)}" for k, v in differ.items())
            + f"); pick one, e.g. with params.{name}={values[0]}")
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


def checked(specs: list[str], cfg: EvaluateConfig) -> tuple[list[Compared], dict]:
    """Every model resolved and every test set read, before any run exists: (the sides,
    test set -> its faces index)."""
    if len(specs) < 2:
        raise UserInputError(f"compare needs two or more models, got {len(specs)}")
    tests = parse_test_sets(cfg.datasets)
    for name, index in tests.items():
        load_test_set(name, index, cfg.split)
    return [resolve_model(spec) for spec in specs], tests


def compare_models(sides: list[Compared], tests: dict, cfg: EvaluateConfig) -> pd.DataFrame:
    """The comparison table (one row per model and test set, against the first model),
    logged to the active run with its forest plot and metrics."""
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
    if cfg.gallery:
        # where each test face's crop lies: each faces index read once for every side
        face_paths = {test: load_test_set(test, index, cfg.split).faces[
            ["key", "frame", "face_path"]] for test, index in tests.items()}
        for side in sides[1:]:
            log_paired_errors(reference, side, tests, scores, face_paths, cfg)
    # what the console's summary says: evaluations reused, and made now
    table.attrs.update(reused=reused, scored=sum(len(s.refs) for s in sides) * len(tests))
    return table


def log_paired_errors(reference: Compared, side: Compared, tests: dict, scores: dict,
                      face_paths: dict, cfg: EvaluateConfig) -> None:
    """paired_errors/<model>/<test set>/: the videos one model gets right and the other
    wrong, with both models' maps (their first seeds'), and the counts as metrics. Both
    models are loaded once for all the test sets; face_paths: test set -> key, frame,
    face_path of its faces."""
    import contextlib
    import tempfile
    from pathlib import Path

    from .. import accel, paths
    from ..model_refs import artifacts_folder
    from ..scoring import MODEL_CONFIG, ModelConfig, Scorer
    from . import paired_errors
    compute = accel.Compute.resolve(cfg.device, cfg.precision)
    with contextlib.ExitStack() as stack:
        folders = [stack.enter_context(artifacts_folder(c.refs[0])) for c in (reference, side)]
        scorers = tuple(Scorer.from_folder(folder, compute) for folder in folders)
        # each model's own operating point, when both were calibrated on validation videos
        fitted = [ModelConfig.load(folder / MODEL_CONFIG).calibration for folder in folders]
        thresholds, decided_at = (0.0, 0.0), "p_fake 0.5"
        if all(fitted):
            thresholds = tuple(f["threshold"] for f in fitted)
            decided_at = ("each model's threshold picked on its validation videos: logit "
                          + " and ".join(f"{t:+.3g}" for t in thresholds))
        mlflow.set_tag("paired_errors_decided_at", decided_at)
        for test, index in tests.items():
            ref_faces = scores[reference.name][test][0].merge(face_paths[test],
                                                              on=["key", "frame"])
            side_faces = scores[side.name][test][0]
            found = paired_errors.disagreements(ref_faces, side_faces, thresholds)
            name = metric_key(side.name)
            mlflow.log_metrics({f"fixed_videos/{name}/{test}": len(found["fixed"]),
                                f"broken_videos/{name}/{test}": len(found["broken"])})
            with tempfile.TemporaryDirectory() as scratch:
                folder = Path(scratch) / "page"
                paired_errors.build(found, ref_faces, side_faces, paths.faces_root(index),
                                    scorers, (reference.name, side.name), folder, test,
                                    cfg.gallery, decided_at=decided_at)
                pd.concat([found["fixed"].assign(kind="fixed"),
                           found["broken"].assign(kind="broken")]
                          ).to_csv(folder / "videos.csv", index=False)
                mlflow.log_artifacts(str(folder), f"paired_errors/{name}/{test}")


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
