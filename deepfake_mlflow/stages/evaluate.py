"""The `evaluate` stage: trained models x test sets -> metrics, figures, predictions.

The work is deepfake_mlflow.evaluation.evaluate: one evaluation run per model; several
models make a parent run holding the cross-dataset matrix (Tables I-IV of the paper).
"""

from __future__ import annotations

from ..evaluation.config import EvaluateConfig

HELP = ("test-set metrics of one or more models (MLflow runs); several models also give "
        "the cross-dataset matrix")
EXAMPLES = """\
    deepfake-mlflow evaluate models:/deepfake-effnetb4-ff@champion ff,dfdc
    deepfake-mlflow evaluate RUN_ID1,RUN_ID2 ff,dfd,dfdc,celebdf
"""
CONFIG = EvaluateConfig


def run(cfg: EvaluateConfig):
    """Evaluate one or several models on the test sets; returns the long cross-dataset
    table (one row per model x test set)."""
    from ..evaluation.evaluate import evaluate
    return evaluate(cfg)


def report(table) -> int:
    from ..evaluation.model_run import format_table
    print(format_table(table))
    return 0
