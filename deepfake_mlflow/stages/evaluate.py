"""The `evaluate` stage: trained models x test sets -> metrics, figures, predictions.

One evaluation run per model (deepfake_mlflow.evaluation.model_run); several models make
a parent run holding the cross-dataset matrix (Tables I-IV of the paper).
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import config
from .options import at_least, numbers, one_of, option, require

HELP = ("test-set metrics of one or more models (MLflow runs); several models also give "
        "the cross-dataset matrix")


@dataclass(frozen=True)
class EvaluateConfig:
    model: str | tuple = option(help="comma list of: run id, runs:/ or models:/ URI "
                                     "(models:/NAME@ALIAS), or a local model folder")
    datasets: str | dict = option(help="comma list of test sets: NAME (faces in the "
                                       "workspace) or NAME=PATH/faces.parquet")
    split: str = option(config.EVAL_SPLIT, choices=config.SPLITS, help="split scored")
    robustness: str = option("in-domain", help="test sets for the JPEG/downscale sweeps: "
                                               "in-domain, all, none, or a list")
    mds: str = option("all", help="test sets for the MDS projection (Fig. 2): all, none, "
                                  "or a list")
    mds_pairs: int = option(config.MDS_PAIRS, help="real/fake video pairs in each MDS plot")
    jpeg_qualities: tuple = option(config.ROBUSTNESS_JPEG_QUALITIES, parse=numbers(int),
                                   help="comma list of JPEG qualities (robustness)")
    scales: tuple = option(config.ROBUSTNESS_SCALES, parse=numbers(float),
                           help="comma list of downscale factors (robustness)")
    seed: int = option(config.DEFAULT_SEED, help="seed of the MDS pairs")
    device: str = option(config.DEVICE, help="auto (CUDA when present), cpu, cuda or cuda:N")
    precision: str = option(config.SCORE_PRECISION, choices=config.PRECISIONS,
                            help="fp32 (scores equal on every device), bf16 or fp16 "
                                 "(faster on GPUs)")
    run_name: str = option("", cli=False, help="the evaluation run's name (one model); "
                                               "default eval:<training run's name>")

    def __post_init__(self):
        one_of(self, "split", config.SPLITS)
        one_of(self, "precision", config.PRECISIONS)
        at_least(self, 0, "mds_pairs")
        require(all(1 <= q <= 100 for q in self.jpeg_qualities), "jpeg_qualities",
                "JPEG qualities from 1 to 100", self.jpeg_qualities)
        require(all(0 < s < 1 for s in self.scales), "scales",
                "downscale factors between 0 and 1", self.scales)

    def models(self) -> list[str]:
        names = self.model.split(",") if isinstance(self.model, str) else self.model
        return [m.strip() for m in names if m.strip()]


CONFIG = EvaluateConfig


def run(cfg: EvaluateConfig):
    """Evaluate one or several models on the test sets; returns the long cross-dataset
    table (one row per model x test set)."""
    import mlflow
    import pandas as pd

    from .. import accel, tracking
    from ..errors import UserInputError
    from ..evaluation import matrix
    from ..evaluation.model_run import evaluate_model, parse_test_sets
    from ..evaluation.testset import load_test_set
    from ..faces.index import faces_digest
    from ..model_refs import resolve

    accel.resolve_precision(cfg.precision, accel.resolve_device(cfg.device))  # fail early
    # every test set and every model checked before any work
    tests = {name: load_test_set(name, index, cfg.split)
             for name, index in parse_test_sets(cfg.datasets).items()}
    names = cfg.models()
    refs = [resolve(m) for m in names]
    if not refs:
        raise UserInputError("no model given: expected a run id, a models:/ URI or a folder")
    options = dict(robustness=cfg.robustness, mds=cfg.mds, mds_pairs=cfg.mds_pairs,
                   seed=cfg.seed, split=cfg.split, jpeg_qualities=cfg.jpeg_qualities,
                   scales=cfg.scales, device=cfg.device, precision=cfg.precision)
    if len(refs) == 1:
        return pd.DataFrame(evaluate_model(refs[0], tests, run_name=cfg.run_name, **options),
                            columns=matrix.COLUMNS)
    # the models are listed in models.csv: a param of 16 run ids is unreadable in the UI
    params = {"models": len(refs), "test_sets": ",".join(tests), **options}
    with tracking.stage_run("evaluate", run_name=f"matrix:{len(refs)}x{len(tests)}",
                            params=params):
        # the faces scored, as each model's run tags them (a study's reuse reads these)
        mlflow.set_tags({f"faces_digest/{name}": faces_digest(test.index)
                         for name, test in tests.items()})
        tracking.log_dataframe(pd.DataFrame({"model": names, "train_run_id": [
            r.run_id or "" for r in refs], "model_id": [r.model_id or "" for r in refs]}),
            "models.csv")
        rows = [row for ref in refs for row in evaluate_model(ref, tests, **options)]
        table = pd.DataFrame(rows, columns=matrix.COLUMNS)
        matrix.log_matrix(table)
        mlflow.log_metrics(matrix.summary_metrics(table))
    return table
