"""The evaluate stage's work: trained models x test sets -> metrics, figures, predictions.

One model is one evaluation run (model_run.evaluate_model); several models make a parent
run holding the cross-dataset matrix (Tables I-IV of the paper), each model's evaluation a
child run. The study and the ablation call evaluate() as the stage does.
"""

from __future__ import annotations

import mlflow
import pandas as pd

from .. import accel, tracking
from ..errors import UserInputError
from ..faces.index import faces_digest
from ..model_refs import resolve
from . import matrix
from .config import EvaluateConfig, parse_test_sets
from .model_run import evaluate_model
from .testset import load_test_set


def evaluate(cfg: EvaluateConfig) -> pd.DataFrame:
    """Evaluate one or several models on the test sets; returns the long cross-dataset
    table (one row per model x test set)."""
    compute = accel.Compute.resolve(cfg.device, cfg.precision)  # a missing GPU fails here
    # every test set and every model checked before any work
    tests = {name: load_test_set(name, index, cfg.split)
             for name, index in parse_test_sets(cfg.datasets).items()}
    names = cfg.models()
    refs = [resolve(m) for m in names]
    if not refs:
        raise UserInputError("no model given: expected a run id, a models:/ URI or a folder")
    if len(refs) == 1:
        return pd.DataFrame(evaluate_model(refs[0], tests, cfg, compute, cfg.run_name),
                            columns=matrix.COLUMNS)
    # the models are listed in models.csv: a param of 16 run ids is unreadable in the UI
    params = {"models": len(refs), "test_sets": ",".join(tests), **cfg.options()}
    with tracking.runs.stage_run("evaluate", run_name=f"matrix:{len(refs)}x{len(tests)}",
                                 params=params):
        # the faces scored, as each model's run tags them (a study's reuse reads these)
        mlflow.set_tags({f"faces_digest/{name}": faces_digest(test.index)
                         for name, test in tests.items()})
        tracking.logs.log_dataframe(pd.DataFrame({"model": names, "train_run_id": [
            r.run_id or "" for r in refs], "model_id": [r.model_id or "" for r in refs]}),
            "models.csv")
        rows = [row for ref in refs for row in evaluate_model(ref, tests, cfg, compute)]
        table = pd.DataFrame(rows, columns=matrix.COLUMNS)
        matrix.log_matrix(table)
        mlflow.log_metrics(matrix.summary_metrics(table))
    return table
