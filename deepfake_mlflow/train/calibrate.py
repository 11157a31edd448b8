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


def fit_on_validation(weights: Path, model: str, size: int, index: Path, dataset: str,
                      device) -> calibration.Calibration:
    """Calibration of the weights on the val split of the faces index; logged on the
    active run as metrics (calibration_temperature, val_threshold_logit, val_auc_video,
    val_videos) and returned for the logged model's config."""
    test = load_test_set(f"{dataset} val", index, split="val")
    scorer = Scorer(weights, model, size, accel.Compute(device, accel.Precision("fp32",
                                                                               device.type)))
    videos = video_scores(score_test_set(test, scorer).predictions)
    fitted = calibration.fit(videos["label"], videos["logit"])
    mlflow.log_metrics({"calibration_temperature": fitted.temperature,
                        "val_threshold_logit": fitted.threshold,
                        "val_auc_video": fitted.val_auc_video,
                        "val_videos": fitted.real_videos + fitted.fake_videos})
    log.info("calibration on %s: %s", test.name, fitted.describe())
    return fitted
