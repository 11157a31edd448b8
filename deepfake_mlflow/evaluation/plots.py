"""Figures of an evaluation, drawn with matplotlib (Agg: no display needed)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.metrics import roc_curve  # noqa: E402

from .. import config  # noqa: E402


def roc_figure(curves: dict[str, dict[str, tuple]], title: str):
    """curves: test set -> {"frame": (labels, scores), "video": (labels, scores)}."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.6), sharey=True)
    for ax, level in zip(axes, ("frame", "video")):
        for name, by_level in curves.items():
            labels, scores = by_level[level]
            fpr, tpr, _ = roc_curve(labels, scores)
            auc = np.trapezoid(tpr, fpr)
            ax.plot(fpr, tpr, label=f"{name} (AUC {auc:.3f})")
        ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
        ax.set(title=f"{level} level", xlabel="false positive rate", xlim=(0, 1), ylim=(0, 1.01))
        ax.legend(loc="lower right", fontsize=8)
    axes[0].set_ylabel("true positive rate")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def matrix_heatmap(table: pd.DataFrame, title: str):
    """table: train datasets (rows) x test datasets (columns) of AUC values."""
    fig, ax = plt.subplots(figsize=(1.4 * len(table.columns) + 2.2, 1.0 * len(table) + 1.6))
    values = table.to_numpy(dtype=float)
    # red below chance, yellow at chance, green towards 1: cells under 0.5 stay visible
    image = ax.imshow(values, vmin=0.0, vmax=1.0, cmap="RdYlGn")
    ax.set_xticks(range(len(table.columns)), table.columns)
    ax.set_yticks(range(len(table.index)), table.index)
    ax.set(xlabel="test dataset", ylabel="training dataset", title=title)
    for (i, j), value in np.ndenumerate(values):
        if not np.isnan(value):
            ax.text(j, i, f"{value:.3f}", ha="center", va="center", color="black")
    fig.colorbar(image, ax=ax, label="frame-level ROC AUC")
    fig.tight_layout()
    return fig


def mds_scatter(points: pd.DataFrame, title: str):
    """points: key, label, x, y (one point per face)."""
    fig, ax = plt.subplots(figsize=(5.5, 5))
    for label, colour, name in ((config.REAL, "tab:blue", "real"),
                                (config.FAKE, "tab:red", "fake")):
        chosen = points[points["label"] == label]
        ax.scatter(chosen["x"], chosen["y"], s=8, alpha=0.6, color=colour,
                   label=f"{name} ({chosen['key'].nunique()} videos)")
    ax.set(xticks=[], yticks=[])
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def robustness_figure(table: pd.DataFrame, title: str):
    """table: test_set, kind (jpeg|scale), level, auc_frame; clean AUC at level 100 / 1.0."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, kind, xlabel in ((axes[0], "jpeg", "JPEG quality"),
                             (axes[1], "scale", "downscale factor")):
        for name, rows in table[table["kind"] == kind].groupby("test_set"):
            rows = rows.sort_values("level")
            ax.plot(rows["level"], rows["auc_frame"], marker="o", label=name)
        ax.set(xlabel=xlabel, ylabel="frame-level ROC AUC", ylim=(0.0, 1.02))
        ax.invert_xaxis()  # stronger degradation to the right
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
