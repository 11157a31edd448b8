"""The end of a training: its best weights scored on every validation face, and the
temperature and threshold fitted on the validation videos (evaluation/calibration.py),
stored with the logged model so that `predict --calibrated` and every evaluation use them.

One pass over the validation split, in fp32, on the training's device: its cost grows with
the split, like one evaluation of it.
"""

from __future__ import annotations

import logging
from pathlib import Path

import mlflow

from .. import accel
from ..evaluation import calibration
from ..evaluation.metrics import video_scores
from ..evaluation.testset import load_test_set, score_test_set
from ..scoring import Scorer

log = logging.getLogger(__name__)


# (weights file, its size and mtime, faces index) -> its calibration: a triplet training
# logs the same best weights twice (its finetune step, then its parent run), scored once
_FITTED: dict[tuple, calibration.Calibration] = {}


def fit_on_validation(weights: Path, model: str, size: int, index: Path, dataset: str,
                      device) -> calibration.Calibration:
    """Calibration of the weights on the val split of the faces index; logged on the
    active run as metrics (calibration_temperature, val_threshold_logit, val_auc_video,
    val_videos) and a `calibration` tag describing it, and returned for the logged
    model's config."""
    stat = Path(weights).stat()
    key = (str(Path(weights).resolve()), stat.st_size, stat.st_mtime_ns, str(index))
    fitted = _FITTED.get(key)
    if fitted is None:
        test = load_test_set(f"{dataset} val", index, split="val")
        scorer = Scorer(weights, model, size,
                        accel.Compute(device, accel.Precision("fp32", device.type)))
        videos = video_scores(score_test_set(test, scorer).predictions)
        fitted = _FITTED[key] = calibration.fit(videos["label"], videos["logit"])
        log.debug("calibration on %s: %s", test.name, fitted.describe())
    mlflow.log_metrics({"calibration_temperature": fitted.temperature,
                        "val_threshold_logit": fitted.threshold,
                        "val_auc_video": fitted.val_auc_video,
                        "val_videos": fitted.real_videos + fitted.fake_videos})
    mlflow.set_tag("calibration", fitted.describe())  # with its warning, if any
    return fitted
