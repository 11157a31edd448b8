"""The report's figures: the paper's Fig. 1-3 and the tables' heatmaps, from store tables.

Each function takes the tables of dashboards.store (already read) and returns a matplotlib
figure, drawn in the one style of deepfake_mlflow.evaluation.plots.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from deepfake_mlflow.evaluation import plots
from deepfake_mlflow.naming import augment_label
from deepfake_mlflow.evaluation.plots import LINES, colour, label, ordered, plt

LOSS_STYLE = {"bce": ("-", "o"), "triplet": ("--", "s")}


VERDICT_MARKS = {"better": "\u25b2", "worse": "\u25bc"}  # above a bar: against NONE


def ablation_order(trials: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """The trials in the paper's order of Fig. 3: decreasing AUC on the training dataset's
    own test set (the first test set's when it has none), trials without one last."""
    tests = ordered(c.split("/", 1)[1] for c in trials.columns if c.startswith("auc_frame/"))
    if not tests:
        return trials
    key = f"auc_frame/{dataset}" if f"auc_frame/{dataset}" in trials else f"auc_frame/{tests[0]}"
    return trials.sort_values(key, ascending=False, na_position="last", kind="stable")


def ablation_chart(trials: pd.DataFrame, dataset: str, title: str,
                   comparison: pd.DataFrame | None = None):
    """Fig. 3: frame AUC per augmentation (bars: one per test set, with their 95% interval
    when measured), ordered as the paper orders it (decreasing AUC on the training
    dataset's own test set), with each test set's AUC without augmentation (NONE) as a
    horizontal line. With the study's comparison (ablation.verdicts), a bar found better
    than NONE carries a filled triangle up, one found worse a triangle down; the others are
    not distinguishable from NONE (or rest on too few videos)."""
    tests = ordered(c.split("/", 1)[1] for c in trials.columns if c.startswith("auc_frame/"))
    done = ablation_order(trials[trials["state"] == "COMPLETE"].drop_duplicates(
        "augment", keep="last"), dataset)
    names = [augment_label(a).upper() for a in done["augment"]]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.75 * len(names) + 2), 3.6), layout="constrained")
    width = 0.8 / max(len(tests), 1)
    x = np.arange(len(names))
    none = done[done["augment"] == "none"]
    verdicts = {} if comparison is None or not len(comparison) else {
        (r.augment, r.test_set): r.verdict for r in comparison.itertuples()}
    nan = pd.Series(np.nan, index=done.index)
    marked = 0
    for i, test in enumerate(tests):
        values = done[f"auc_frame/{test}"].to_numpy(dtype=float)
        low = done.get(f"auc_frame_low/{test}", nan).to_numpy(dtype=float)
        high = done.get(f"auc_frame_high/{test}", nan).to_numpy(dtype=float)
        at = x + (i - (len(tests) - 1) / 2) * width
        ax.bar(at, values, width, color=colour(test), label=label(test), edgecolor="white",
               linewidth=0.4)
        measured = ~np.isnan(low) & ~np.isnan(high)
        if measured.any():
            ax.errorbar(at[measured], values[measured],
                        yerr=[np.clip(values - low, 0, None)[measured],
                              np.clip(high - values, 0, None)[measured]],
                        fmt="none", ecolor="0.25", elinewidth=0.7, capsize=1.5)
        for j, augment in enumerate(done["augment"]):
            mark = VERDICT_MARKS.get(verdicts.get((augment, test)))
            if mark:
                marked += 1
                top = high[j] if measured[j] else values[j]
                ax.text(at[j], min(top, 1.0) + 0.015, mark, ha="center", va="bottom",
                        fontsize=6, color=colour(test))
        if len(none) and not np.isnan(none[f"auc_frame/{test}"].iloc[0]):
            ax.axhline(none[f"auc_frame/{test}"].iloc[0], color=colour(test), linewidth=1,
                       linestyle=LINES[i % len(LINES)], alpha=0.9)
    ax.set_xticks(x, names)
    ax.set(ylabel="frame-level ROC AUC", ylim=(0.0, 1.08),
           xlabel=f"augmentation (ordered by AUC on the {label(dataset)} test set)")
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    legend = "test set\n(lines: NONE)"
    if verdicts:  # what the paired tests found, said even when they found nothing
        legend += ("\n\u25b2/\u25bc better/worse\nthan NONE" if marked
                   else "\nnone told apart\nfrom NONE")
    ax.legend(title=legend, fontsize=7, title_fontsize=7, frameon=False,
              loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


VERDICT_GLYPHS = {"better": ("\u25b2", "#006d4e"), "worse": ("\u25bc", "#a34400")}


def limited_curves(points: pd.DataFrame, title: str, verdicts: dict | None = None):
    """Fig. 1 as the paper draws it: one panel per training dataset, frame AUC against the
    training videos per class, a line per test set (colour; the in-domain one thicker) and
    loss (solid BCE, dashed triplet), each with its 95% interval as a band where it has
    one; the same losses on all training videos as a marker at the right edge, labelled
    "all". verdicts: (dataset, test set, videos per class) -> claim 1's verdict of triplet
    against BCE at that point; a significant one is marked above the triplet point."""
    verdicts = verdicts or {}
    datasets = ordered(points["dataset"].unique())
    fig, axes = plt.subplots(1, len(datasets), figsize=(3.6 * len(datasets) + 1.9, 3.6),
                             sharey=True, squeeze=False, layout="constrained")
    marked = False
    for ax, dataset in zip(axes[0], datasets):
        rows = points[points["dataset"] == dataset]
        sizes = sorted(rows.loc[rows["train_videos"] > 0, "train_videos"].unique())
        everything = sizes[-1] * 1.6 if sizes else None  # where "all videos" is drawn
        for test in ordered(rows["test_set"].unique()):
            for loss, by_loss in rows[rows["test_set"] == test].groupby("loss"):
                style, marker = LOSS_STYLE.get(loss, ("-", "o"))
                # several seeds of a point: their mean (and the mean of their intervals)
                subset = by_loss[by_loss["train_videos"] > 0].groupby(
                    "train_videos", as_index=False)[["auc_frame", "auc_frame_low",
                                                     "auc_frame_high"]].mean()
                ax.plot(subset["train_videos"], subset["auc_frame"], linestyle=style,
                        marker=marker, color=colour(test), markersize=3.5,
                        linewidth=2.0 if test == dataset else 1.1,
                        label=f"{label(test)}, {loss.upper()}")
                has_band = subset["auc_frame_low"].notna()
                if has_band.sum() >= 2:
                    ax.fill_between(subset["train_videos"], subset["auc_frame_low"],
                                    subset["auc_frame_high"], where=has_band,
                                    color=colour(test), alpha=0.07, linewidth=0)
                if loss == "triplet":
                    for videos, auc in zip(subset["train_videos"], subset["auc_frame"]):
                        glyph = VERDICT_GLYPHS.get(verdicts.get((dataset, test, int(videos))))
                        if glyph:
                            ax.annotate(glyph[0], (videos, auc), textcoords="offset points",
                                        xytext=(0, 4), ha="center", fontsize=7,
                                        color=glyph[1])
                            marked = True
                full = by_loss[by_loss["train_videos"] == 0]
                if len(full) and everything:  # all videos: beyond the largest subset
                    ax.plot([everything], [full["auc_frame"].iloc[0]], marker=marker,
                            color=colour(test), markersize=4, linestyle="none",
                            fillstyle="none" if loss != "bce" else "full")
        ax.set_xscale("log", base=2)
        if everything and (rows["train_videos"] == 0).any():
            ax.set_xticks([*sizes, everything], [*(f"{v:g}" for v in sizes), "all"])
        else:
            ax.set_xticks(sizes, [f"{v:g}" for v in sizes])
        ax.xaxis.set_minor_locator(plt.matplotlib.ticker.NullLocator())
        ax.axhline(0.5, color="0.6", linewidth=0.6, linestyle=":")
        ax.set(title=f"trained on {label(dataset)}", xlabel="training videos per class",
               ylim=(0.0, 1.05))
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("frame-level ROC AUC")
    handles, labels = axes[0][-1].get_legend_handles_labels()
    legend_title = "test set, loss\n(bands: 95% interval;\n\"all\": every training video"
    if marked:
        legend_title += ";\n\u25b2/\u25bc: triplet above/below\nBCE, Holm p < 0.05"
    fig.legend(handles, labels, title=legend_title + ")", fontsize=8, title_fontsize=8,
               frameon=False, loc="outside right upper")
    fig.suptitle(title)
    return fig


def mds_grid(projections: dict[tuple[str, str], pd.DataFrame], test_set: str, title: str):
    """Fig. 2: the MDS of one test set's faces under each training set's models, BCE (left)
    against triplet (right), one row per training dataset."""
    trained = ordered(d for d, _ in projections)
    losses = [loss for loss in ("bce", "triplet") if any(k[1] == loss for k in projections)]
    fig, axes = plt.subplots(len(trained), len(losses), figsize=(3.3 * len(losses),
                                                                 3.1 * len(trained)),
                             squeeze=False, layout="constrained")
    letters = iter("abcdefghijklmnopqrstuvwxyz")
    for r, dataset in enumerate(trained):
        for c, loss in enumerate(losses):
            ax = axes[r][c]
            points = projections.get((dataset, loss))
            if points is None:
                ax.axis("off")
                ax.text(0.5, 0.5, "no projection", ha="center", transform=ax.transAxes)
                continue
            plots.mds_scatter(points, f"({next(letters)}) trained on {label(dataset)}, "
                                      f"{loss.upper()}", ax=ax)
    fig.suptitle(title)
    return fig


def roc_grid(curves: dict[str, dict[str, tuple]], title: str):
    """Frame-level ROC curves of one variant: one panel per training dataset, one curve per
    test set. curves: training dataset -> test set -> (labels, logits)."""
    trained = ordered(curves)
    fig, axes = plt.subplots(1, len(trained), figsize=(3.0 * len(trained) + 0.4, 3.3),
                             squeeze=False, sharey=True, layout="constrained")
    for ax, dataset in zip(axes[0], trained):
        for test in ordered(curves[dataset]):
            labels, logits = curves[dataset][test]
            plots.draw_roc(ax, labels, logits, label(test), colour(test),
                           "-" if test == dataset else "--")
        ax.set_title(f"trained on {label(dataset)}")
        plots.roc_axes(ax)
    fig.suptitle(title)
    return fig


def training_curves(histories: pd.DataFrame, title: str):
    """Validation loss by iteration of every grid training phase: one row per phase (bce,
    triplet, finetune), one column per training dataset, one line per augmentation set.
    histories: dataset, phase, augment, loss, step, value."""
    phases = [p for p in ("bce", "triplet", "finetune") if p in set(histories["phase"])]
    trained = ordered(histories["dataset"])
    fig, axes = plt.subplots(len(phases), len(trained), figsize=(2.8 * len(trained) + 0.6,
                                                                 2.3 * len(phases) + 0.6),
                             squeeze=False, sharex="row", layout="constrained")
    augments = sorted(histories["augment"].unique())
    for r, phase in enumerate(phases):
        for c, dataset in enumerate(trained):
            ax = axes[r][c]
            rows = histories[(histories["phase"] == phase) & (histories["dataset"] == dataset)]
            for (loss, augment), line in rows.groupby(["loss", "augment"]):
                i = augments.index(augment)
                ax.plot(line["step"], line["value"], color=plots.PALETTE[i % 8],
                        linestyle=LOSS_STYLE.get(loss, ("-",))[0], linewidth=1.2,
                        label=f"{loss}, {augment_label(augment)}")
            ax.grid(alpha=0.3)
            if r == 0:
                ax.set_title(f"trained on {label(dataset)}")
            if c == 0:
                ax.set_ylabel(f"{phase}\nvalidation loss")
            if r == len(phases) - 1:
                ax.set_xlabel("iteration")
            if len(rows):
                ax.legend(fontsize=6, frameon=False)
    fig.suptitle(title)
    return fig


def reliability_grid(curves: dict[str, dict[str, pd.DataFrame]], eces: dict, title: str,
                     calibrated: dict[str, dict[str, pd.DataFrame]] | None = None,
                     calibrated_eces: dict | None = None):
    """Reliability diagrams of one variant: a panel per training dataset, a line per test
    set (the fraction of fake videos against the mean p_fake of each bin of p_fake); the
    diagonal is perfect calibration. curves: training dataset -> test set -> bins;
    eces: (training dataset, test set) -> ECE. With `calibrated` (the same after the
    temperature fitted on the validation videos), a second row of panels."""
    trained = ordered(curves)
    rows = [(curves, eces)] + ([(calibrated, calibrated_eces or {})] if calibrated else [])
    fig, axes = plt.subplots(len(rows), len(trained),
                             figsize=(3.0 * len(trained) + 1.6, 3.0 * len(rows) + 0.4),
                             squeeze=False, sharey=True, sharex=True, layout="constrained")
    for r, (drawn, found) in enumerate(rows):
        for ax, dataset in zip(axes[r], trained):
            ax.plot([0, 1], [0, 1], color="0.6", linewidth=0.8, linestyle=":")
            for test in ordered(drawn.get(dataset, {})):
                bins = drawn[dataset][test]
                ece = found.get((dataset, test))
                # a bin of one video is a point, not a trend: marker area by videos in it
                ax.plot(bins["mean_p_fake"], bins["fraction_fake"], color=colour(test),
                        linewidth=1.6 if test == dataset else 0.8, alpha=0.7,
                        label=f"{label(test)}" + (f", ECE {ece:.2f}" if ece is not None
                                                  else ""))
                ax.scatter(bins["mean_p_fake"], bins["fraction_fake"], color=colour(test),
                           s=6 + 40 * bins["videos"] / max(bins["videos"].sum(), 1),
                           zorder=3, linewidths=0)
            ax.set(xlim=(0, 1), ylim=(0, 1.02), title=f"trained on {label(dataset)}"
                   + (", calibrated" if r else ""))
            if r == len(rows) - 1:
                ax.set_xlabel("mean p_fake of the bin")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7, frameon=False, loc="upper left")
        axes[r][0].set_ylabel("fraction of fake videos")
    fig.suptitle(title)
    return fig
