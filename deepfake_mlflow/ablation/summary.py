"""What an ablation found: the trials table, the best trial, and the figures logged to the
study's parent run (trials.csv, Optuna's history and importances)."""

from __future__ import annotations

import logging
import warnings

from .storage import INTERRUPTED, SURPLUS
from ..errors import first_line

log = logging.getLogger(__name__)


def summarise(study, tests: dict) -> dict:
    rows = []
    done = {t.user_attrs.get("augment") for t in study.trials if t.state.name == "COMPLETE"}
    for t in study.trials:
        if SURPLUS in t.user_attrs:
            continue
        if INTERRUPTED in t.user_attrs and t.user_attrs.get("augment") in done:
            continue  # interrupted, and run again since
        rows.append({"trial": t.number, "state": t.state.name,
                     "augment": t.user_attrs.get("augment", ""),
                     "objective": t.value, "objective_sd": t.user_attrs.get("objective_sd"),
                     "mlflow_run_id": t.user_attrs.get("mlflow_run_id", ""),
                     "fail_reason": t.user_attrs.get("fail_reason", ""),
                     "seeds": len(t.user_attrs.get("train_run_ids", [])) or None,
                     **{f"{key}/{name}": t.user_attrs.get(f"{key}/{name}")
                        for name in tests
                        for key in ("auc_frame", "auc_frame_low", "auc_frame_high",
                                    "auc_frame_sd", "videos")}})
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    best = study.best_trial if complete else None
    return {"trials": rows, "best": None if best is None else {
        "trial": best.number, "augment": best.user_attrs.get("augment"), "objective": best.value,
        "mlflow_run_id": best.user_attrs.get("mlflow_run_id")}}


def trainings_filter(study_name: str) -> str:
    """The MLflow search filter of a study's trainings, one per trial (the search API
    lists them flat; the UI nests each under its trial run, which it adds)."""
    from .. import queries
    return queries.where({"stage": "train", "optuna_study": study_name})


def tag_trainings(study) -> int:
    """Tag each finished trial's training runs (one per seed) with the study and the
    trial (a reused training, such as the grid's NONE, too: it is that trial's training),
    so that trainings_filter finds them; returns how many were tagged."""
    import mlflow
    from mlflow.entities import RunTag
    client, tagged = mlflow.MlflowClient(), 0
    for t in study.trials:
        if t.state.name != "COMPLETE":
            continue
        for run_id in t.user_attrs.get("train_run_ids") or [t.user_attrs.get("train_run_id")]:
            if run_id:  # one training per seed
                client.log_batch(run_id, tags=[RunTag("optuna_study", study.study_name),
                                               RunTag("optuna_trial", str(t.number))])
                tagged += 1
    return tagged


def log_summary(study, summary: dict, maximise: bool) -> None:
    import mlflow
    import pandas as pd

    from .. import tracking
    from ..evaluation import plots

    table = pd.DataFrame(summary["trials"])
    if len(table):
        table = table.sort_values("objective", ascending=not maximise, na_position="last")
    tracking.logs.log_dataframe(table, "trials.csv")
    best = summary["best"]
    if best is not None:
        mlflow.log_metric("best_objective", best["objective"])
        mlflow.set_tags({"best_augment": best["augment"], "best_trial": str(best["trial"]),
                         "best_run_id": best["mlflow_run_id"]})
    import matplotlib
    import optuna
    from optuna.visualization import matplotlib as views
    for name, draw in (("history", views.plot_optimization_history),
                       ("importances", views.plot_param_importances)):
        # Optuna's views switch matplotlib to its ggplot style for good: kept to this block,
        # or every later figure of the process turns grey
        with matplotlib.rc_context():
            try:
                with warnings.catch_warnings():  # Optuna's matplotlib views are "experimental"
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                    axes = draw(study)
            except Exception as err:  # too few finished trials for the plot: said, not fatal
                log.info("ablation: no %s plot (%s)", name, first_line(err))
                continue
            figure = axes.figure if hasattr(axes, "figure") else axes
            figure.set_size_inches(8, 4.5)
            figure.tight_layout()
            plots.log(figure, f"optuna_{name}.png")
