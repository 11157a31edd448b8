"""How sure a model should be: a temperature and a decision threshold fitted on the
validation split of its training data, and what they give on a test set.

Both are fitted on *video* scores (the mean frame logit, as every door of this project
scores a video), at the end of training on the validation videos, and stored in the
logged model's model_config.json (scoring.ModelConfig.calibration):
- the temperature T of temperature scaling (Guo et al., 2017): p_fake = sigmoid(logit / T),
  T minimising the log loss of the validation videos. It moves no video's rank, so AUCs
  are unchanged; only the probabilities are;
- the threshold on the video logit that maximises balanced accuracy (Youden's J, TPR - FPR)
  on the validation videos: the operating point a user would pick without seeing the test.
An evaluation reports the test set's error rates at that threshold, with video-bootstrap
intervals: a threshold picked on one dataset and used on another shows how far the
operating point drifts across datasets, which an AUC hides.

Light enough for the logged model, which applies a calibration: numpy at import; scipy
and scikit-learn only where one is fitted.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .. import config
from ..scoring import sigmoid

# log10 of the temperature is searched in this range: T from 0.01 (sharpen 100x) to 100
LOG10_TEMPERATURE_RANGE = (-2.0, 2.0)


@dataclass(frozen=True)
class Calibration:
    temperature: float  # p_fake = sigmoid(video logit / temperature)
    threshold: float  # a video whose logit is at or above it is called fake
    real_videos: int  # the validation videos it was fitted on
    fake_videos: int
    val_auc_video: float  # how well the validation videos were separated
    split: str = "val"
    # why the fit should not be trusted, if it should not ("" otherwise)
    warning: str = ""

    def p_fake(self, logit):
        return sigmoid(np.asarray(logit, dtype=np.float64) / self.temperature)

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict | None) -> "Calibration | None":
        return cls(**data) if data else None

    def describe(self) -> str:
        text = (f"temperature {self.temperature:.3g}, threshold at logit {self.threshold:+.3g} "
                f"(p_fake {float(sigmoid(self.threshold)):.3f}), fitted on {self.real_videos} "
                f"real and {self.fake_videos} fake {self.split} videos")
        return f"{text}; {self.warning}" if self.warning else text


def fit_temperature(labels, logits) -> float:
    """The temperature minimising the mean log loss of sigmoid(logits / T)."""
    from scipy.optimize import minimize_scalar

    labels = np.asarray(labels, dtype=np.float64)
    logits = np.asarray(logits, dtype=np.float64)

    def loss(log10_t: float) -> float:
        z = logits / 10.0 ** log10_t
        # log(1 + exp(-z)) for fakes, log(1 + exp(z)) for reals, without overflow
        return float(np.mean(np.logaddexp(0.0, np.where(labels == config.FAKE, -z, z))))

    found = minimize_scalar(loss, bounds=LOG10_TEMPERATURE_RANGE, method="bounded",
                            options={"xatol": 1e-4})
    return float(10.0 ** found.x)


def pick_threshold(labels, logits) -> float:
    """The logit threshold maximising TPR - FPR (balanced accuracy); among equal ones, the
    nearest to logit 0 (p_fake 0.5). Each candidate lies halfway between two neighbouring
    distinct scores, so no validation video sits on the threshold itself. One sort: the
    rates of every candidate are running counts down the sorted scores."""
    labels = np.asarray(labels, dtype=int)
    logits = np.asarray(logits, dtype=np.float64)
    order = np.argsort(-logits, kind="stable")
    scores, fake = logits[order], labels[order] == config.FAKE
    # cut after the last video of each group of equal scores: those above are called fake
    cut = np.r_[np.flatnonzero(scores[:-1] != scores[1:]), len(scores) - 1]
    tpr = np.r_[0.0, np.cumsum(fake)[cut] / max(fake.sum(), 1)]
    fpr = np.r_[0.0, np.cumsum(~fake)[cut] / max((~fake).sum(), 1)]
    below = np.r_[scores[cut[:-1] + 1], scores[-1] - 1.0]  # the next score down
    candidates = np.r_[scores[0] + 1.0, (scores[cut] + below) / 2]
    j = tpr - fpr
    best = np.flatnonzero(np.isclose(j, j.max()))
    return float(candidates[best[np.argmin(np.abs(candidates[best]))]])


def fit(labels, logits, split: str = "val") -> Calibration:
    """Temperature and threshold of one model from its validation videos' (label, logit)."""
    from .metrics import plain_auc

    labels = np.asarray(labels, dtype=int)
    logits = np.asarray(logits, dtype=np.float64)
    n_real = int((labels == config.REAL).sum())
    n_fake = int((labels == config.FAKE).sum())
    if not n_real or not n_fake:
        raise ValueError(f"calibration needs real and fake videos, got {n_real} real and "
                         f"{n_fake} fake")
    temperature = fit_temperature(labels, logits)
    auc = plain_auc(labels, logits)
    warning = ""
    if auc >= 1.0:
        warning = ("the validation videos are perfectly separated, so their log loss says "
                   "little about the right temperature: trust its probabilities little")
    elif min(n_real, n_fake) < config.CALIBRATION_MIN_VIDEOS:
        warning = (f"fewer than {config.CALIBRATION_MIN_VIDEOS} validation videos of a "
                   "class: temperature and threshold are rough")
    return Calibration(temperature, pick_threshold(labels, logits), n_real, n_fake, auc,
                       split, warning)


def error_rates(real: np.ndarray, fake: np.ndarray, threshold: float) -> dict[str, np.ndarray]:
    """FPR, FNR and balanced accuracy at a logit threshold, for each row of scores
    (resamples x videos of each class)."""
    fpr = (np.atleast_2d(real) >= threshold).mean(axis=1)
    fnr = (np.atleast_2d(fake) < threshold).mean(axis=1)
    return {"fpr": fpr, "fnr": fnr, "balanced_accuracy": 1.0 - (fpr + fnr) / 2}


def at_threshold(labels, logits, calibration: Calibration,
                 samples: int = config.BOOTSTRAP_SAMPLES,
                 seed: int = config.DEFAULT_SEED) -> dict[str, float]:
    """A test set's video-level error rates at the validation threshold, each with a
    bootstrap interval over videos drawn within each class (as every interval here), and
    the ECE of the calibrated probabilities: <rate>_at_val_threshold_video[_low|_high],
    ece_video_calibrated."""
    from .breakdown import expected_calibration_error

    labels = np.asarray(labels, dtype=int)
    logits = np.asarray(logits, dtype=np.float64)
    real, fake = logits[labels == config.REAL], logits[labels == config.FAKE]
    out = {"ece_video_calibrated": expected_calibration_error(labels,
                                                              calibration.p_fake(logits))}
    if not len(real) or not len(fake):
        return out
    found = error_rates(real, fake, calibration.threshold)
    out.update({f"{k}_at_val_threshold_video": float(v[0]) for k, v in found.items()})
    if samples > 0 and min(len(real), len(fake)) >= config.INTERVAL_MIN_VIDEOS:
        rng = np.random.default_rng(seed)
        drawn = error_rates(rng.choice(real, (samples, len(real))),
                            rng.choice(fake, (samples, len(fake))), calibration.threshold)
        for k, values in drawn.items():
            low, high = np.percentile(values, [2.5, 97.5])
            out[f"{k}_at_val_threshold_video_low"] = float(low)
            out[f"{k}_at_val_threshold_video_high"] = float(high)
    return out
