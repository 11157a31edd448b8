"""The ablation's verdict: each augmentation against NONE on each test set.

The paired comparison (deepfake_mlflow.evaluation.compare) of a trial's frame AUC with the
NONE trial's, on the same test videos, over the seeds of both; Holm's correction over all
of a study's comparisons; each one called better, worse, or not distinguishable. Logged to
the study's parent run as comparison.csv and metrics (auc_vs_none/<augment label>/<test set>),
printed by the stage, drawn by the report's Fig. 3.
"""

from __future__ import annotations

import pandas as pd

from .. import config
from ..evaluation import compare
from .storage import SURPLUS

COLUMNS = ["augment", "test_set", "difference", "low", "high", "p_value", "p_holm", "verdict",
           "real_videos", "fake_videos", "seeds_a", "seeds_b"]


INPUTS_TAG = "comparison_inputs"  # on the parent run: what its comparison.csv compared


def _compared(study) -> dict:
    """augmentation -> its finished trial with evaluations, as compared."""
    return {t.user_attrs.get("augment"): t for t in study.trials
            if t.state.name == "COMPLETE" and SURPLUS not in t.user_attrs
            and t.user_attrs.get("eval_run_ids")}


def inputs_digest(study, tests: dict, seed: int) -> str:
    """What a comparison reads, as a short hash: each compared trial's evaluation runs, the
    test sets, the seed and the resamples. The same digest gives the same table."""
    import hashlib
    import json
    what = {"trials": {a: sorted(t.user_attrs["eval_run_ids"])
                       for a, t in _compared(study).items()},
            "tests": sorted(tests), "seed": seed, "samples": config.BOOTSTRAP_SAMPLES}
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]


def earlier_comparison(run_id: str, digest: str) -> pd.DataFrame | None:
    """The parent run's comparison.csv when it compared these very inputs (a re-run of a
    finished study: at DFDC's size a comparison costs minutes), else None."""
    import mlflow
    run = mlflow.get_run(run_id)
    if run.data.tags.get(INPUTS_TAG) != digest:
        return None
    try:
        path = mlflow.artifacts.download_artifacts(run_id=run_id,
                                                   artifact_path="comparison.csv")
    except mlflow.exceptions.MlflowException:
        return None
    return pd.read_csv(path)


def compare_with_none(study, tests: dict, seed: int = config.DEFAULT_SEED) -> pd.DataFrame:
    """One row per (augmentation, test set) of the study's finished trials against its
    NONE trial; empty without a NONE trial or test sets."""
    from ..evaluation.predictions import predictions
    done = _compared(study)
    none = done.pop("none", None)
    if none is None or not tests:
        return pd.DataFrame(columns=COLUMNS)
    def pairs():
        for test in tests:
            base = [predictions(run_id, test) for run_id in none.user_attrs["eval_run_ids"]]
            for augment, trial in done.items():
                yield ({"augment": augment, "test_set": test},
                       [predictions(run_id, test) for run_id in trial.user_attrs["eval_run_ids"]],
                       base)
    return compare.compare_pairs(pairs(), seed=seed)[COLUMNS]


def log_comparison(table: pd.DataFrame, digest: str) -> None:
    """comparison.csv and one metric per comparison on the active run (the study's parent),
    how many augmentations came out better and worse than NONE, and the digest of what
    was compared (earlier_comparison reads it)."""
    import mlflow

    from .. import tracking
    if not len(table):
        return
    tracking.logs.log_dataframe(table, "comparison.csv")
    mlflow.set_tag(INPUTS_TAG, digest)
    from ..naming import augment_label
    # a metric name holds no '+': mix for all seven, bc_hf for a search's pair
    metrics = {f"auc_vs_none/{augment_label(r.augment).replace('+', '_')}/{r.test_set}":
               r.difference for r in table.itertuples()}
    for word in (compare.BETTER, compare.WORSE):
        metrics[f"comparisons_{word}"] = int((table["verdict"] == word).sum())
    mlflow.log_metrics(metrics)


def printed(table: pd.DataFrame) -> str:
    """The verdicts as a console table: an augmentation per row, a test set per column,
    each cell the AUC difference with its 95% interval and the verdict."""
    from ..naming import augment_label
    shown = table.assign(cell=table.apply(compare.cell, axis=1),
                         augment=table["augment"].map(augment_label))
    grid = shown.pivot(index="augment", columns="test_set", values="cell")
    seeds = f"{int(table['seeds_a'].max())} seed(s) per augmentation"
    return f"{grid.to_string()}\n{compare.footer(table, seeds)}"
