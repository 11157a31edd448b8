"""Detection metrics of one test set, at frame level and at video level.

Scores are logits (positive = fake). Frame level: one score per face, the paper's ROC AUC.
Video level: the mean of a video's frame logits (deepfake_mlflow.scoring.video_logit), one
score per video key. Keys carry dataset, subset and method (ff/Deepfakes/000_003), so
FF++'s fakes, which share file names across methods, never merge.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn import metrics as skm

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


def frame_and_video_metrics(frames: pd.DataFrame) -> dict[str, float]:
    """Frame- and video-level metrics, named <metric>_frame / <metric>_video, plus counts."""
    videos = video_scores(frames)
    result = {f"{k}_frame": v for k, v in binary_metrics(frames["label"], frames["logit"]).items()}
    result.update({f"{k}_video": v for k, v in
                   binary_metrics(videos["label"], videos["logit"]).items()})
    result.update(faces=float(len(frames)), videos=float(len(videos)),
                  fake_videos=float(videos["label"].sum()))
    return result
