"""Figures of an evaluation, drawn with matplotlib (Agg: no display needed), fit to publish.

One style for every figure, here and in the dashboards' report: datasets in the paper's
order under the paper's names, a colour-blind-safe colour map for AUC cells, Okabe-Ito
colours for lines, 300 dpi PNGs and a vector PDF of each.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402
from sklearn.metrics import roc_curve  # noqa: E402

from .. import config  # noqa: E402

# Okabe & Ito's palette: told apart with any colour vision (black kept for references)
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442",
           "#000000")
LINES = ("-", "--", "-.", ":")
CLASS_COLOURS = {config.REAL: "#0072B2", config.FAKE: "#D55E00"}  # blue real, vermilion fake
plt.rcParams.update({"font.size": 9, "axes.titlesize": 10, "axes.spines.top": False,
                     "axes.spines.right": False, "savefig.bbox": "tight",
                     "axes.prop_cycle": matplotlib.cycler(color=PALETTE)})


def label(dataset: str) -> str:
    """The paper's name of a dataset (CelebDF, DF, DFD, DFDC); others as they are."""
    return config.DATASET_LABELS.get(dataset, dataset)


def ordered(datasets) -> list[str]:
    """The paper's order (CelebDF, DF, DFD, DFDC), then any other dataset by name."""
    names = list(dict.fromkeys(datasets))
    known = [d for d in config.PAPER_DATASET_ORDER if d in names]
    return known + sorted(d for d in names if d not in known)


def colour(dataset: str) -> str:
    """One colour per dataset, the same in every figure."""
    order = list(config.PAPER_DATASET_ORDER)
    index = order.index(dataset) if dataset in order else len(order) + hash(dataset) % 4
    return PALETTE[index % len(PALETTE)]


def save(figure, stem: Path) -> list[Path]:
    """stem.png (300 dpi) and stem.pdf; the figure is closed. Returns both paths."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    out = [stem.with_suffix(".png"), stem.with_suffix(".pdf")]
    figure.savefig(out[0], dpi=config.FIGURE_DPI)
    figure.savefig(out[1])
    plt.close(figure)
    return out


def log(figure, artifact_file: str) -> None:
    """Log a figure into the active MLflow run as PNG (300 dpi) and PDF; closes it."""
    import mlflow
    mlflow.log_figure(figure, artifact_file, save_kwargs={"dpi": config.FIGURE_DPI})
    mlflow.log_figure(figure, str(Path(artifact_file).with_suffix(".pdf")))
    plt.close(figure)


def roc_figure(curves: dict[str, dict[str, tuple]], title: str):
    """curves: test set -> {"frame": (labels, scores), "video": (labels, scores)}."""
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.9), sharey=True)
    for ax, level in zip(axes, ("frame", "video")):
        for name in ordered(curves):
            labels, scores = curves[name][level]
            draw_roc(ax, labels, scores, label(name), colour(name))
        ax.set_title(f"{level} level")
        roc_axes(ax)
    axes[1].set_ylabel("")
    fig.suptitle(title)
    return fig


def draw_roc(ax, labels, scores, name: str, line_colour: str, style: str = "-") -> None:
    if len(np.unique(labels)) < 2:
        return  # one class: no curve
    fpr, tpr, _ = roc_curve(labels, scores)
    ax.plot(fpr, tpr, style, color=line_colour, linewidth=1.4,
            label=f"{name} (AUC {np.trapezoid(tpr, fpr):.3f})")


def roc_axes(ax) -> None:
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", xlim=(0, 1),
           ylim=(0, 1.01), aspect="equal")
    # a legend box of its own: curves run through the lower right corner too
    ax.legend(loc="lower right", fontsize=7, frameon=True, facecolor="white", framealpha=0.92,
              edgecolor="#cccccc")


def matrix_heatmap(table: pd.DataFrame, title: str, paper: pd.DataFrame | None = None,
                   videos: dict[str, float] | None = None, ax=None,
                   low: pd.DataFrame | None = None, high: pd.DataFrame | None = None):
    """table: training datasets (rows) x test datasets (columns) of frame AUCs, drawn in the
    paper's order with the in-domain diagonal outlined. With `paper` (same shape), each cell
    also shows the paper's value and our difference; with `videos`, each column says how
    many test videos it was measured on; with `low` and `high` (the 95% intervals), each
    cell shows its interval, hatched when the interval holds 0.5 (chance: the cell does
    not tell the model from a coin). Missing cells are grey with a dash."""
    rows, cols = ordered(table.index), ordered(table.columns)
    table = table.reindex(index=rows, columns=cols)
    bounds = None
    if low is not None and high is not None:
        bounds = (low.reindex(index=rows, columns=cols).to_numpy(dtype=float),
                  high.reindex(index=rows, columns=cols).to_numpy(dtype=float))
        if np.isnan(bounds[0]).all():  # test sets too small for an interval: say nothing
            bounds = None
    own = ax is None
    if own:
        # cells large enough for five lines at 8.5 pt: about 11 px on the report's page
        fig, ax = plt.subplots(figsize=(1.2 * len(cols) + 2.0, 0.92 * len(rows) + 1.6))
    else:
        fig = ax.figure
    values = table.to_numpy(dtype=float)
    cmap = matplotlib.colormaps[config.FIGURE_COLORMAP].with_extremes(bad="#dddddd")
    # the whole 0-1 range: a cell below chance (0.02) must not look like one at chance
    image = ax.imshow(np.ma.masked_invalid(values), vmin=0.0, vmax=1.0, cmap=cmap)
    counts = {c: n for c, n in (videos or {}).items() if n and not pd.isna(n)}
    xlabels = [label(c) + (f"\n{counts[c]:.0f} videos" if c in counts else "") for c in cols]
    ax.set_xticks(range(len(cols)), xlabels)
    ax.set_yticks(range(len(rows)), [label(r) for r in rows])
    ax.tick_params(length=0)
    ax.set(xlabel="test dataset", ylabel="training dataset")
    ax.set_title(title)
    for spine in ax.spines.values():
        spine.set_visible(False)
    marked = False
    for (i, j), value in np.ndenumerate(values):
        if rows[i] == cols[j]:  # in-domain
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="black",
                                   linewidth=1.6))
        text = "—" if np.isnan(value) else f"{value:.3f}"
        spans_chance = False
        if bounds is not None and not np.isnan(bounds[0][i, j]):
            lo, hi = bounds[0][i, j], bounds[1][i, j]
            if hi < 0.5:  # surely of the wrong sign on this test set
                text += config.BELOW_CHANCE_MARK
                marked = True
            text += f"\n[{lo:.2f}, {hi:.2f}]"
            spans_chance = lo <= 0.5 <= hi
        elif bounds is not None and not np.isnan(value):
            text += "\nno interval"
        if spans_chance:
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="///",
                                   edgecolor="#888888", linewidth=0))
        reference = _paper_value(paper, rows[i], cols[j])
        if reference is not None:
            text += f"\npaper {reference:.3f}"
            if not np.isnan(value):
                text += f"\n{value - reference:+.3f}"
        dark = not np.isnan(value) and value < 0.56  # cividis is dark below the middle
        ax.text(j, i, text, ha="center", va="center",
                fontsize=8.5 if reference is not None or bounds is not None else 10.5,
                color="white" if dark else "black")
    notes = []
    if bounds is not None:
        notes.append("[95% interval over test videos]; hatched: it holds 0.5")
    if marked:
        notes.append(f"{config.BELOW_CHANCE_MARK} interval below 0.5: scores of the wrong sign")
    if notes:
        ax.set_xlabel("test dataset\n" + "\n".join(notes))
    if own:
        fig.colorbar(image, ax=ax, label="frame-level ROC AUC", shrink=0.85)
    return fig


def _paper_value(paper: pd.DataFrame | None, row: str, col: str) -> float | None:
    if paper is None or row not in paper.index or col not in paper.columns:
        return None
    value = paper.loc[row, col]
    return None if pd.isna(value) else float(value)


def mds_scatter(points: pd.DataFrame, title: str, ax=None):
    """points: key, label, x, y (one point per face)."""
    own = ax is None
    if own:
        fig, ax = plt.subplots(figsize=(4.2, 4))
    else:
        fig = ax.figure
    for value, name, marker in ((config.REAL, "real", "o"), (config.FAKE, "fake", "^")):
        chosen = points[points["label"] == value]
        ax.scatter(chosen["x"], chosen["y"], s=7, alpha=0.55, color=CLASS_COLOURS[value],
                   marker=marker, linewidths=0,
                   label=f"{name} ({chosen['key'].nunique()} videos)")
    ax.set(xticks=[], yticks=[])
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, frameon=False, markerscale=2)
    return fig


def robustness_figure(table: pd.DataFrame, title: str, group: str = "test_set"):
    """table: <group>, kind (jpeg|scale), level, auc_frame; the clean AUC is at level 100
    (JPEG) and 1.0 (scale). One line per value of `group`."""
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.4), sharey=True)
    for ax, kind, xlabel in ((axes[0], "jpeg", "JPEG quality"),
                             (axes[1], "scale", "downscale factor")):
        for i, (name, rows) in enumerate(table[table["kind"] == kind].groupby(group)):
            rows = rows.sort_values("level")
            ax.plot(rows["level"], rows["auc_frame"], marker="o", markersize=4,
                    linestyle=LINES[i % len(LINES)],
                    color=colour(name) if name in config.DATASET_LABELS else None,
                    label=label(name))
        ax.set(xlabel=xlabel, ylim=(0.0, 1.02))
        ax.invert_xaxis()  # stronger degradation to the right
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, frameon=False)
    axes[0].set_ylabel("frame-level ROC AUC")
    fig.suptitle(title)
    return fig


VERDICT_COLOURS = {"better": "#009E73", "worse": "#D55E00"}  # others: grey


def forest(table: pd.DataFrame, title: str = "AUC difference against the reference"):
    """A forest plot of paired comparisons: one row per model and test set, its frame-AUC
    difference with the reference and its 95% interval (a dot alone where there is none:
    too few videos), coloured by its Holm verdict; the line at 0 is no difference."""
    rows = table.reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(6.4, 0.42 * len(rows) + 1.3))
    y = np.arange(len(rows))[::-1]
    for yi, row in zip(y, rows.itertuples()):
        tint = VERDICT_COLOURS.get(row.verdict, "#707070")
        if not pd.isna(row.low):
            ax.plot([row.low, row.high], [yi, yi], color=tint, lw=1.6)
        ax.plot(row.difference, yi, "o", color=tint, ms=5)
        shown = "n/a" if pd.isna(row.p_holm) else f"p_holm {row.p_holm:.3f}"
        ax.annotate(f"{row.verdict} ({shown})", (1.02, yi), xycoords=("axes fraction", "data"),
                    va="center", fontsize=7, color=tint)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(y, [f"{row.model} on {label(row.test_set)}" for row in rows.itertuples()],
                  fontsize=7)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_xlabel(f"frame AUC difference, model minus reference, 95% interval "
                  f"(reference: {rows['reference'].iloc[0] if len(rows) else '-'})", fontsize=8)
    ax.set_title(title)
    return fig
