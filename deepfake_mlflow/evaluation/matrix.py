"""The cross-dataset matrix (the paper's Tables I-IV): training set x test set AUC.

One long table holds every evaluated model: train_dataset, loss, augment, test_set,
auc_frame, auc_video and the ids behind them. It pivots into one train x test table per
training variant (loss, augmentation); the paper's four tables are bce/triplet x
none/SELECTED. The same long table comes from an evaluation in memory or, for the
dashboards, from the training runs in the store (the evaluation copies its AUCs there).
"""

from __future__ import annotations

import mlflow
import pandas as pd

from .. import config, tracking
from ..vocabulary import Loss

COLUMNS = ["train_dataset", "loss", "augment", "test_set", "auc_frame", "auc_video",
           "train_run_id", "model_id"]
SELECTED = tracking.augment_tag(config.SELECTED_AUGMENTATIONS)
PAPER_TABLES = {(Loss.BCE, "none"): "Table I", (Loss.TRIPLET, "none"): "Table II",
                (Loss.BCE, SELECTED): "Table III", (Loss.TRIPLET, SELECTED): "Table IV"}


def title(loss: str, augment: str) -> str:
    name = f"{loss}, augment={augment}"
    return f"{PAPER_TABLES[(loss, augment)]} ({name})" if (loss, augment) in PAPER_TABLES else name


def rows_of_run(run: mlflow.entities.Run) -> list[dict]:
    """The long-table rows of a training run with copied AUCs (auc_frame/<test set>)."""
    tags, metrics = run.data.tags, run.data.metrics
    tests = sorted(k.split("/", 1)[1] for k in metrics
                   if k.startswith("auc_frame/") and k.count("/") == 1)
    model_id = tracking.logged_model_id(run) or ""
    return [{"train_dataset": tags.get("dataset", "?"), "loss": tags.get("loss", "?"),
             "augment": tags.get("augment", "?"), "test_set": t,
             "auc_frame": metrics[f"auc_frame/{t}"],
             "auc_video": metrics.get(f"auc_video/{t}", float("nan")),
             "train_run_id": run.info.run_id, "model_id": model_id} for t in tests]


def from_store(filter_string: str = "") -> pd.DataFrame:
    """The long table from the final training runs of the store (newest run per variant)."""
    runs = tracking.final_training_runs(filter_string)
    rows = [row for run in runs for row in rows_of_run(run)]
    table = pd.DataFrame(rows, columns=COLUMNS)
    return table.drop_duplicates(["train_dataset", "loss", "augment", "test_set"], keep="first")


def pivots(table: pd.DataFrame, level: str = "auc_frame") -> dict[tuple[str, str], pd.DataFrame]:
    """(loss, augment) -> train x test table; rows and columns in the same dataset order."""
    out = {}
    for (loss, augment), rows in table.groupby(["loss", "augment"], sort=True):
        grid = rows.pivot_table(index="train_dataset", columns="test_set", values=level,
                                aggfunc="last")
        order = [d for d in grid.index if d in grid.columns] + \
            [d for d in grid.columns if d not in grid.index]
        out[(loss, augment)] = grid.reindex(columns=order)
    return out


def log_matrix(table: pd.DataFrame, artifact_dir: str = "matrix") -> dict:
    """Log the long table (CSV), and per variant its train x test CSV and heatmap PNG."""
    from .plots import matrix_heatmap

    tracking.log_dataframe(table, f"{artifact_dir}/cross_dataset_auc.csv")
    grids = pivots(table)
    for (loss, augment), grid in grids.items():
        stem = f"{artifact_dir}/{loss}-{augment}"
        mlflow.log_text(grid.to_csv(), f"{stem}.csv")
        figure = matrix_heatmap(grid, title(loss, augment))
        mlflow.log_figure(figure, f"{stem}.png")
        import matplotlib.pyplot as plt
        plt.close(figure)
    return grids
