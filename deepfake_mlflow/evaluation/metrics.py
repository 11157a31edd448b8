"""Detection metrics of one test set, at frame level and at video level.

Scores are logits (positive = fake). Frame level: one score per face, the paper's ROC AUC.
Video level: the mean of a video's frame logits (deepfake_mlflow.scoring.video_logit), one
score per video key. Keys carry dataset, subset and method (ff/Deepfakes/000_003), so
FF++'s fakes, which share file names across methods, never merge.

Each AUC comes with a 95% bootstrap interval (auc_frame_low, auc_frame_high, and the same
for videos): the test set's videos are drawn again with replacement, real and fake apart
(the two samples of scipy.stats.bootstrap, so every resample keeps the class sizes), and a
drawn video brings all its frames: frames of one video are not independent, so resampling
frames would give intervals far too narrow. A resample is scored as the AUC of the frames
weighted by how often their video was drawn (weighted_auc), so it costs one pass over the
faces, not a copy of them.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from .. import config
from ..scoring import sigmoid, video_logit

THRESHOLD = 0.5  # on p_fake, for balanced accuracy
NAMES = ("auc", "ap", "eer", "log_loss", "balanced_accuracy")


def equal_error_rate(labels, scores) -> float:
    """The error rate where the false positive rate equals the false negative rate,
    interpolated linearly between the two ROC points that bracket the crossing."""
    fpr, tpr, _ = skm.roc_curve(labels, scores)
    fnr = 1.0 - tpr
    diff = fpr - fnr  # rises from -1 (fpr 0, fnr 1) to +1
    i = int(np.argmax(diff >= 0))
    if diff[i] == 0 or i == 0:
        return float(fpr[i])
    # between points i-1 (diff < 0) and i (diff > 0)
    t = -diff[i - 1] / (diff[i] - diff[i - 1])
    return float(fpr[i - 1] + t * (fpr[i] - fpr[i - 1]))


def binary_metrics(labels, logits) -> dict[str, float]:
    """AUC, average precision, EER, log loss and balanced accuracy at p_fake 0.5.
    NaN for all of them when the labels hold a single class (AUC is undefined)."""
    labels = np.asarray(labels, dtype=int)
    logits = np.asarray(logits, dtype=np.float64)
    if len(np.unique(labels)) < 2:
        return {name: float("nan") for name in NAMES}
    p = np.clip(sigmoid(logits), 1e-7, 1 - 1e-7)
    return {"auc": float(skm.roc_auc_score(labels, logits)),
            "ap": float(skm.average_precision_score(labels, logits)),
            "eer": equal_error_rate(labels, logits),
            "log_loss": float(skm.log_loss(labels, p, labels=[0, 1])),
            "balanced_accuracy": float(skm.balanced_accuracy_score(labels, p >= THRESHOLD))}


def weighted_auc(scores, labels, weights) -> np.ndarray:
    """The ROC AUC of each row of `weights` (R, N) over the same N scored items: the
    probability that a fake outscores a real, ties counting half, each item counted as
    often as its weight says (equal to sklearn's roc_auc_score with sample_weight)."""
    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels)
    weights = np.atleast_2d(np.asarray(weights, dtype=np.float64))
    order = np.argsort(scores, kind="stable")
    ranked, fake, w = scores[order], labels[order] == 1, weights[:, order]
    starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])  # groups of tied scores
    real_w = np.add.reduceat(np.where(fake, 0.0, w), starts, axis=1)
    fake_w = np.add.reduceat(np.where(fake, w, 0.0), starts, axis=1)
    below = np.cumsum(real_w, axis=1) - real_w  # real weight strictly below each group
    with np.errstate(invalid="ignore", divide="ignore"):
        return (fake_w * (below + 0.5 * real_w)).sum(1) / (fake_w.sum(1) * real_w.sum(1))


def plain_auc(labels, scores) -> float:
    """The ROC AUC (sklearn's roc_auc_score without its checks, which cost more than the
    AUC where tens are computed per test set)."""
    return float(weighted_auc(scores, labels, np.ones((1, len(labels))))[0])


def auc_interval(labels, scores, groups, samples: int = config.BOOTSTRAP_SAMPLES,
                 seed: int = config.DEFAULT_SEED, level: float = config.INTERVAL_LEVEL,
                 method: str | None = None) -> tuple[float, float]:
    """The bootstrap interval of the AUC when the groups (videos) are drawn again with
    replacement within each label, every item of a drawn group along. NaN, NaN with fewer
    than config.INTERVAL_MIN_VIDEOS groups of either class: two videos of a class give
    three distinct resamples, and such an interval covers the truth in 60% of simulated
    test sets, not 95%.

    Two corrections make it hold its level on small test sets (simulated in
    tests/test_metrics.py: 10 videos of 32 frames, 0.88 coverage without them, 0.945 with):
    the level is expanded for the smaller class's n videos (Hesterberg's expanded
    percentile: z = sqrt(n / (n - 1)) t_{n-1}), since a resample of n videos spreads less
    than new test sets do; and BCa corrects the skew of an AUC near its bounds where it is
    reliable and affordable: from config.BCA_MIN_VIDEOS videos of each class (below, the
    few distinct resamples make its bias correction erratic, and it can leave the AUC
    itself outside) up to config.BCA_MAX_VIDEOS videos in all (its jackknife costs one
    AUC per video); the percentile interval elsewhere."""
    from scipy import stats

    # sorted once here: each batch of resamples then re-sorts an ordered array, in O(N)
    order = np.argsort(np.asarray(scores, dtype=np.float64), kind="stable")
    scores = np.asarray(scores, dtype=np.float64)[order]
    labels = np.asarray(labels, dtype=int)[order]
    codes, group_of = np.unique(np.asarray(groups)[order], return_inverse=True)
    group_label = np.zeros(len(codes), dtype=int)
    group_label[group_of] = labels
    real, fake = np.flatnonzero(group_label == 0), np.flatnonzero(group_label == 1)
    if samples <= 0 or min(len(real), len(fake)) < config.INTERVAL_MIN_VIDEOS:
        return float("nan"), float("nan")

    def resampled_auc(real_drawn, fake_drawn, axis=-1):
        # scipy hands batches of resamples (and, for BCa, jackknife sets that leave one
        # video of one class out), stacked along the leading axes
        lead = np.broadcast_shapes(np.shape(real_drawn)[:-1], np.shape(fake_drawn)[:-1])
        drawn = np.concatenate([np.broadcast_to(real_drawn, lead + np.shape(real_drawn)[-1:]),
                                np.broadcast_to(fake_drawn, lead + np.shape(fake_drawn)[-1:])],
                               axis=-1).reshape(-1, np.shape(real_drawn)[-1]
                                                + np.shape(fake_drawn)[-1])
        counts = np.stack([np.bincount(row, minlength=len(codes)) for row in drawn])
        return weighted_auc(scores, labels, counts[:, group_of]).reshape(lead)

    n = min(len(real), len(fake))
    if method is None:
        bca = config.BCA_MIN_VIDEOS <= n and len(codes) <= config.BCA_MAX_VIDEOS
        method = "BCa" if bca else "percentile"
    expanded = 2 * stats.norm.cdf(np.sqrt(n / (n - 1)) * stats.t.ppf((1 + level) / 2, n - 1)) - 1
    # every resample alike (a perfect model) leaves BCa undefined: NaN, handled below
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        found = stats.bootstrap((real, fake), resampled_auc, n_resamples=samples,
                                confidence_level=expanded, method=method, vectorized=True,
                                batch=config.BOOTSTRAP_BATCH, random_state=seed)
    low, high = float(found.confidence_interval.low), float(found.confidence_interval.high)
    if np.isnan(low) or np.isnan(high):  # BCa undefined: every resample gave one value
        value = float(np.nanmedian(found.bootstrap_distribution))
        return value, value
    return low, high


def video_scores(frames: pd.DataFrame) -> pd.DataFrame:
    """Per video key: label, mean frame logit, faces scored (frames needs key, label, logit)."""
    grouped = frames.groupby("key", sort=True)
    labels = grouped["label"].agg(["min", "max"])
    mixed = labels.index[labels["min"] != labels["max"]]
    if len(mixed):
        raise ValueError(f"video keys with faces of both labels: {list(mixed[:3])}")
    out = pd.DataFrame({"label": labels["min"],
                        "logit": grouped["logit"].agg(video_logit),
                        "faces": grouped.size()}).reset_index()
    out["p_fake"] = sigmoid(out["logit"])
    return out


def frame_and_video_metrics(frames: pd.DataFrame, samples: int = config.BOOTSTRAP_SAMPLES,
                            seed: int = config.DEFAULT_SEED) -> dict[str, float]:
    """Frame- and video-level metrics, named <metric>_frame / <metric>_video, the AUCs'
    intervals (auc_frame_low, auc_frame_high, auc_video_low, auc_video_high; samples=0
    leaves them out), and counts."""
    videos = video_scores(frames)
    result = {f"{k}_frame": v for k, v in binary_metrics(frames["label"], frames["logit"]).items()}
    result.update({f"{k}_video": v for k, v in
                   binary_metrics(videos["label"], videos["logit"]).items()})
    if samples > 0:
        for level, table, groups in (("frame", frames, frames["key"]),
                                     ("video", videos, videos["key"])):
            low, high = auc_interval(table["label"], table["logit"], groups, samples, seed)
            result.update({f"auc_{level}_low": low, f"auc_{level}_high": high})
    result.update(faces=float(len(frames)), videos=float(len(videos)),
                  fake_videos=float(videos["label"].sum()))
    return result
