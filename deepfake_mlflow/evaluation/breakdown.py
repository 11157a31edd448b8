"""Where a model fails: each test video with its score and what the index knows of it, the
AUC of every subgroup with its interval, and how well the video scores are calibrated.

Subgroups follow the literature's habits:
- an attribute of fakes alone (FF++'s method; any dataset indexed with several methods):
  that method's fakes against *every* real video, as FF++ papers report per method;
- an attribute of reals alone (Celeb-DF's Celeb-real and YouTube-real): those reals against
  every fake;
- an attribute of both (a DFDC part; the face's size and the detector's confidence, each in
  terciles over the test set's videos): the videos of the subgroup alone.
A subgroup gets an AUC where it holds config.BREAKDOWN_MIN_VIDEOS videos of each class, and
an interval by the same video bootstrap as every AUC (metrics.auc_interval).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import config
from .metrics import auc_interval, plain_auc, video_scores

VIDEO_COLUMNS = ["key", "label", "p_fake", "logit", "rank", "faces", "method", "subset",
                 "source", "face_size", "confidence"]
BREAKDOWN_COLUMNS = ["kind", "subgroup", "real_videos", "fake_videos", "auc_frame",
                     "auc_frame_low", "auc_frame_high", "auc_video", "auc_video_low",
                     "auc_video_high"]
ORIGINAL = config.ORIGINAL_METHOD


def video_table(predictions: pd.DataFrame, faces: pd.DataFrame) -> pd.DataFrame:
    """One row per test video: its score (p_fake of the mean frame logit) and its rank
    among the test set's videos (1: the most fake-looking), the faces scored, and what the
    faces index says of it: method, subset (FF++ method, DFDC part, Celeb-DF source),
    source (a fake's original), mean face side in pixels and mean detector confidence.
    `faces` are the rows the predictions were scored on, in the same order."""
    scored = predictions.assign(face_side=np.sqrt(faces["w"].to_numpy(float)
                                                  * faces["h"].to_numpy(float)),
                                confidence=faces["score"].to_numpy(float),
                                source=faces["source"].to_numpy())
    videos = video_scores(scored)
    facts = scored.groupby("key", sort=True).agg(
        method=("method", "first"), subset=("subset", "first"), source=("source", "first"),
        face_size=("face_side", "mean"), confidence=("confidence", "mean"))
    table = videos.merge(facts, left_on="key", right_index=True)
    table["rank"] = table["logit"].rank(ascending=False, method="first").astype(int)
    return table[VIDEO_COLUMNS].sort_values("rank").reset_index(drop=True)


def subgroups(videos: pd.DataFrame) -> list[tuple[str, str, pd.Series]]:
    """(kind, name, mask over `videos`) of every subgroup worth a row (see the module)."""
    real, fake = videos["label"] == config.REAL, videos["label"] == config.FAKE
    found = []
    methods = sorted(set(videos.loc[fake, "method"]) - {ORIGINAL, ""})
    if len(methods) > 1:
        found += [("method", m, real | (fake & (videos["method"] == m))) for m in methods]
    real_subsets = sorted(set(videos.loc[real, "subset"]) - {""})
    fake_subsets = set(videos.loc[fake, "subset"])
    if len(real_subsets) > 1 and not set(real_subsets) & fake_subsets:  # Celeb-DF's sources
        found += [("real source", s, fake | (real & (videos["subset"] == s)))
                  for s in real_subsets]
    shared = sorted(set(real_subsets) & fake_subsets)
    if len(shared) > 1:  # DFDC's parts: each holds reals and fakes
        found += [("part", s, videos["subset"] == s) for s in shared]
    for column, kind in (("face_size", "face size"), ("confidence", "detector confidence")):
        values = videos[column]
        if values.notna().sum() >= 3 and values.nunique() >= 3:
            edges = values.quantile([1 / 3, 2 / 3]).to_numpy()
            bins = np.digitize(values, edges)
            for tercile, name in enumerate(("lowest third", "middle third", "highest third")):
                low = values[bins == tercile].min()
                high = values[bins == tercile].max()
                found.append((kind, f"{name} ({low:.3g}-{high:.3g})", pd.Series(
                    bins == tercile, index=videos.index)))
    return found


def breakdown(frames: pd.DataFrame, videos: pd.DataFrame,
              samples: int = config.BOOTSTRAP_SAMPLES,
              seed: int = config.DEFAULT_SEED) -> pd.DataFrame:
    """Frame and video AUC of every subgroup, with intervals and its videos of each class;
    NaN where a subgroup holds fewer than config.BREAKDOWN_MIN_VIDEOS of a class.
    frames: the predictions (key, label, logit); videos: video_table's rows."""
    rows = []
    for kind, name, mask in subgroups(videos):
        chosen = videos[mask.to_numpy()]
        n_real = int((chosen["label"] == config.REAL).sum())
        n_fake = int((chosen["label"] == config.FAKE).sum())
        row = dict(zip(BREAKDOWN_COLUMNS, [kind, name, n_real, n_fake] + [np.nan] * 6))
        if min(n_real, n_fake) >= config.BREAKDOWN_MIN_VIDEOS:
            part = frames[frames["key"].isin(chosen["key"])]
            row["auc_frame"] = plain_auc(part["label"], part["logit"])
            row["auc_frame_low"], row["auc_frame_high"] = auc_interval(
                part["label"], part["logit"], part["key"], samples, seed)
            row["auc_video"] = plain_auc(chosen["label"], chosen["logit"])
            row["auc_video_low"], row["auc_video_high"] = auc_interval(
                chosen["label"], chosen["logit"], chosen["key"], samples, seed)
        rows.append(row)
    return pd.DataFrame(rows, columns=BREAKDOWN_COLUMNS)


# --- calibration and operating points --------------------------------------------------------
def expected_calibration_error(labels, p_fake, bins: int = config.CALIBRATION_BINS) -> float:
    """The mean gap between the predicted probability and the fraction of fakes, over
    equal-width bins of p_fake, each weighted by its share of the videos."""
    table = reliability(labels, p_fake, bins)
    share = table["videos"] / table["videos"].sum()
    return float((share * (table["mean_p_fake"] - table["fraction_fake"]).abs()).sum())


def reliability(labels, p_fake, bins: int = config.CALIBRATION_BINS) -> pd.DataFrame:
    """Per bin of p_fake: its videos, their mean p_fake and the fraction that are fake."""
    labels, p = np.asarray(labels, float), np.asarray(p_fake, float)
    which = np.minimum((p * bins).astype(int), bins - 1)
    count = np.bincount(which, minlength=bins)
    used = np.flatnonzero(count)  # the bins that hold a video, as a groupby gives them
    n = count[used]
    return pd.DataFrame({"bin": used, "videos": n,
                         "mean_p_fake": np.bincount(which, p, bins)[used] / n,
                         "fraction_fake": np.bincount(which, labels, bins)[used] / n,
                         "bin_low": used / bins, "bin_high": (used + 1) / bins})


def resampled_ece(real_p: np.ndarray, fake_p: np.ndarray, samples: int,
                  rng: np.random.Generator, bins: int = config.CALIBRATION_BINS) -> np.ndarray:
    """The ECE of `samples` bootstrap draws of the videos, each class drawn apart (its
    size kept), all at once: one bincount over (draw, bin) pairs, not a loop of draws."""
    p = np.concatenate([rng.choice(real_p, (samples, len(real_p))),
                        rng.choice(fake_p, (samples, len(fake_p)))], axis=1)
    fake = np.zeros_like(p)
    fake[:, len(real_p):] = 1.0
    cell = (np.arange(samples)[:, None] * bins
            + np.minimum((p * bins).astype(int), bins - 1)).ravel()
    size = samples * bins
    count = np.bincount(cell, minlength=size).reshape(samples, bins)
    gap = (np.bincount(cell, weights=p.ravel(), minlength=size)
           - np.bincount(cell, weights=fake.ravel(), minlength=size)).reshape(samples, bins)
    # sum over bins of share x |mean p - fraction fake| = sum |sum p - sum fake| / videos
    return np.abs(gap).sum(axis=1) / np.maximum(count.sum(axis=1), 1)


def tpr_at_fpr(real_scores: np.ndarray, fake_scores: np.ndarray, fpr: float) -> np.ndarray:
    """The true positive rate at the strictest threshold whose false positive rate is at
    most `fpr` (no interpolation between the ROC curve's points): of each row of scores
    (resamples x videos), the fakes scoring above the real score that only floor(fpr x
    reals) reals exceed. Vectorised over rows, so a thousand resamples cost one sort."""
    real, fake = np.atleast_2d(real_scores), np.atleast_2d(fake_scores)
    allowed = int(np.floor(fpr * real.shape[1]))  # reals allowed above the threshold
    threshold = np.sort(real, axis=1)[:, real.shape[1] - 1 - allowed]
    return (fake > threshold[:, None]).mean(axis=1)


def operating_points(videos: pd.DataFrame, samples: int = config.BOOTSTRAP_SAMPLES,
                     seed: int = config.DEFAULT_SEED) -> dict[str, float]:
    """Video-level ECE and the TPR at each of config.OPERATING_FPRS, each with a bootstrap
    interval over videos (drawn within each class). With n real videos no FPR below 1/n
    can be told from 0: the TPR at 1% on 8 real videos is the TPR at 0 false positives
    (the real videos are logged beside it)."""
    labels, logits = videos["label"].to_numpy(int), videos["logit"].to_numpy(float)
    p_fake = videos["p_fake"].to_numpy(float)
    out = {"ece_video": expected_calibration_error(labels, p_fake)}
    real, fake = logits[labels == config.REAL], logits[labels == config.FAKE]
    if not len(real) or not len(fake):
        return out
    rng = np.random.default_rng(seed)
    enough = samples > 0 and min(len(real), len(fake)) >= config.INTERVAL_MIN_VIDEOS
    if enough:
        drawn = resampled_ece(p_fake[labels == config.REAL], p_fake[labels == config.FAKE],
                              samples, rng)
        out["ece_video_low"], out["ece_video_high"] = (
            float(v) for v in np.percentile(drawn, [2.5, 97.5]))
    for rate in config.OPERATING_FPRS:
        name = f"tpr_at_fpr_{rate * 100:g}pct_video"
        out[name] = float(tpr_at_fpr(real, fake, rate)[0])
        if enough:
            drawn = tpr_at_fpr(rng.choice(real, (samples, len(real))),
                               rng.choice(fake, (samples, len(fake))), rate)
            out[f"{name}_low"], out[f"{name}_high"] = (
                float(v) for v in np.percentile(drawn, [2.5, 97.5]))
    return out
