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

from .. import config, naming, tracking
from ..vocabulary import Loss

# each AUC with its 95% interval (evaluation.metrics.auc_interval; NaN when not computed)
INTERVALS = ["auc_frame_low", "auc_frame_high", "auc_video_low", "auc_video_high"]
COLUMNS = ["train_dataset", "loss", "augment", "seed", "test_set", "auc_frame", "auc_video",
           *INTERVALS, "test_videos", "train_run_id", "model_id", "eval_run_id"]
VARIANT = ["train_dataset", "loss", "augment", "test_set"]  # a cell of Tables I-IV
SELECTED = naming.augment_tag(config.SELECTED_AUGMENTATIONS)
PAPER_TABLES = {(Loss.BCE, "none"): "Table I", (Loss.TRIPLET, "none"): "Table II",
                (Loss.BCE, SELECTED): "Table III", (Loss.TRIPLET, SELECTED): "Table IV"}


def title(loss: str, augment: str) -> str:
    name = f"{loss}, augment={augment}"
    return f"{PAPER_TABLES[(loss, augment)]} ({name})" if (loss, augment) in PAPER_TABLES else name


def rows_of_run(run: mlflow.entities.Run) -> list[dict]:
    """The long-table rows of a training run with copied AUCs (auc_frame/<test set>), or
    of one model's evaluation run (it names its training run and model in its tags)."""
    tags, metrics = run.data.tags, run.data.metrics
    tests = sorted(k.split("/", 1)[1] for k in metrics
                   if k.startswith("auc_frame/") and k.count("/") == 1)
    evaluation = tags.get("stage") == "evaluate"
    model_id = tags.get("model_id", "") if evaluation else \
        tracking.logs.logged_model_id(run) or ""
    trained = tags.get("train_run_id", "") if evaluation else run.info.run_id
    seed = tags.get("seed", run.data.params.get("seed", ""))
    return [{"train_dataset": tags.get("dataset", "?"), "loss": tags.get("loss", "?"),
             "augment": tags.get("augment", "?"), "seed": seed, "test_set": t,
             "auc_frame": metrics[f"auc_frame/{t}"],
             "auc_video": metrics.get(f"auc_video/{t}", float("nan")),
             **{k: metrics.get(f"{k}/{t}", float("nan")) for k in INTERVALS},
             "test_videos": metrics.get(f"videos/{t}", float("nan")),
             "train_run_id": trained, "model_id": model_id,
             "eval_run_id": run.info.run_id if evaluation else ""} for t in tests]


def over_seeds(table: pd.DataFrame) -> pd.DataFrame:
    """One row per cell (training dataset, loss, augmentation, test set): a variant trained
    with several seeds as the mean of their AUCs, with their spread (auc_frame_sd,
    auc_video_sd; NaN for one seed) and count (seeds). A one-seed cell keeps its interval;
    a mean's interval is not computed here (each seed's is in its evaluation run)."""
    if not len(table):
        return table.assign(seeds=pd.Series(dtype=float))
    grouped = table.groupby(VARIANT, sort=False, dropna=False)
    out = grouped.agg(**{c: (c, "mean") for c in ("auc_frame", "auc_video")},
                      **{f"{c}_sd": (c, "std") for c in ("auc_frame", "auc_video")},
                      **{c: (c, "first") for c in table.columns
                         if c not in (*VARIANT, "auc_frame", "auc_video")},
                      seeds=("auc_frame", "size")).reset_index()
    several = out["seeds"] > 1
    for column in INTERVALS:
        out[column] = out[column].where(~several)
    for column in ("train_run_id", "model_id", "eval_run_id", "seed"):  # no one run's
        out[column] = out[column].astype(str).where(~several, "")
    return out


def below_chance(high: float) -> bool:
    """Whether an AUC is surely below chance: its whole interval lies below 0.5 (without an
    interval nobody can say, and nothing is marked)."""
    return not pd.isna(high) and high < 0.5


def cell(value: float, low: float = float("nan"), high: float = float("nan"),
         spread: float = float("nan")) -> str:
    """An AUC as tables print it: 0.582 [0.41, 0.75] (its 95% interval), or 0.582 alone
    when it has none; config.BELOW_CHANCE_MARK after a value whose interval lies below 0.5
    (0.020† [0.00, 0.12]); a mean over seeds its spread (standard deviation over the
    seeds): 0.582±0.03 [0.41, 0.75]."""
    if pd.isna(value):
        return "-"
    text = f"{value:.3f}" + (config.BELOW_CHANCE_MARK if below_chance(high) else "")
    if not pd.isna(spread):
        text += f"\u00b1{spread:.2f}"
    if pd.isna(low) or pd.isna(high):
        return text
    return f"{text} [{low:.2f}, {high:.2f}]"


BELOW_CHANCE_NOTE = (f"{config.BELOW_CHANCE_MARK} its 95% interval lies below 0.5: the scores "
                     "point the wrong way on that test set (real faces ranked above fakes), "
                     "not a coin toss")


def print_marked(text: str) -> None:
    """Print a table of cells, with the note on the below-chance mark when one is in it."""
    print(text)
    if config.BELOW_CHANCE_MARK in text:
        print(BELOW_CHANCE_NOTE)


def cells(table: pd.DataFrame, level: str = "auc_frame") -> pd.Series:
    """Each row's AUC at `level` (auc_frame, auc_video) with its interval (or, a mean over
    seeds, their spread), as text."""
    nan = pd.Series(float("nan"), index=table.index)
    low, high, spread = (table.get(f"{level}_{b}", nan) for b in ("low", "high", "sd"))
    return pd.Series([cell(*values) for values in zip(table[level], low, high, spread)],
                     index=table.index, dtype=object)


def test_auc_cells(table: pd.DataFrame) -> pd.DataFrame:
    """A trials table's auc_frame/<test set> columns as text with their intervals (from
    auc_frame_low/<test set>, auc_frame_high/<test set>) and, over several seeds, their
    spread (auc_frame_sd/<test set>), each column named with the test
    videos it rests on (from videos/<test set>), those helper columns dropped."""
    nan = pd.Series(float("nan"), index=table.index)
    out, names = table.copy(), {}
    for column in [c for c in table.columns if c.startswith("auc_frame/")]:
        test = column.split("/", 1)[1]
        low, high, spread = (table.get(f"auc_frame_{b}/{test}", nan)
                             for b in ("low", "high", "sd"))
        out[column] = [cell(*values) for values in zip(table[column], low, high, spread)]
        videos = table.get(f"videos/{test}", nan).max()
        if not pd.isna(videos):
            names[column] = f"{column} ({int(videos)} videos)"
    out = out.drop(columns=[c for c in table.columns
                            if c.startswith(("auc_frame_low/", "auc_frame_high/",
                                             "auc_frame_sd/", "videos/"))])
    return out.rename(columns=names)


def pivots(table: pd.DataFrame, level: str = "auc_frame") -> dict[tuple[str, str], pd.DataFrame]:
    """(loss, augment) -> train x test table, rows and columns in the paper's order."""
    from .plots import ordered
    out = {}
    for (loss, augment), rows in table.groupby(["loss", "augment"], sort=True):
        grid = rows.pivot_table(index="train_dataset", columns="test_set", values=level,
                                aggfunc="last")
        out[(loss, augment)] = grid.reindex(index=ordered(grid.index),
                                            columns=ordered(grid.columns))
    return out


def summary_metrics(table: pd.DataFrame) -> dict[str, float]:
    """The matrix run's metrics: mean in-domain and cross-dataset frame AUC, per variant
    (auc_in_domain/bce-none, auc_cross/triplet-selected) and over all models."""
    in_domain = table["train_dataset"] == table["test_set"]
    out = {"auc_in_domain": float(table.loc[in_domain, "auc_frame"].mean()),
           "auc_cross": float(table.loc[~in_domain, "auc_frame"].mean()),
           "models": float(table["train_run_id"].nunique())}
    for (loss, augment), rows in table.groupby(["loss", "augment"]):
        name = naming.variant(loss, augment).replace("/", "-")
        same = rows["train_dataset"] == rows["test_set"]
        out[f"auc_in_domain/{name}"] = float(rows.loc[same, "auc_frame"].mean())
        out[f"auc_cross/{name}"] = float(rows.loc[~same, "auc_frame"].mean())
    return {k: v for k, v in out.items() if v == v}  # NaN (no such cells) left out


def log_matrix(table: pd.DataFrame, artifact_dir: str = "matrix") -> dict:
    """Log the long table (CSV), and per variant its train x test CSV and heatmap (PNG,
    PDF) with the test-video count of each column."""
    from . import plots

    tracking.logs.log_dataframe(table, f"{artifact_dir}/cross_dataset_auc.csv")
    table = over_seeds(table)  # a variant of several seeds: their mean
    grids = pivots(table)
    lows, highs = pivots(table, "auc_frame_low"), pivots(table, "auc_frame_high")
    videos = table.groupby("test_set")["test_videos"].max().to_dict()
    for (loss, augment), grid in grids.items():
        stem = f"{artifact_dir}/{loss}-{augment}"
        mlflow.log_text(grid.to_csv(), f"{stem}.csv")
        plots.log(plots.matrix_heatmap(grid, title(loss, augment), videos=videos,
                                       low=lows.get((loss, augment)),
                                       high=highs.get((loss, augment))), f"{stem}.png")
    return grids
