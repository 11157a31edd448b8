"""Scoring with a trained detector: face crops -> logits (and features), video -> score.

One implementation for every door: `evaluate` scores the stored faces of a test set,
the logged model (pyfunc) and `predict` score videos, and all of them aggregate a video
the same way: the mean of its frames' logits (`video_logit`), then a sigmoid.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import config
from .faces.crop import jpeg_roundtrip
from .faces.extract import ExtractSettings, face_crop
from .faces.sampling import VideoReadError, read_sampled

MODEL_CONFIG = "model_config.json"  # in every logged model, beside the weights it names


def video_logit(frame_logits) -> float:
    """A video's logit: the mean of its frames' logits (NaN when no face was scored)."""
    values = np.asarray(frame_logits, dtype=np.float64)
    return float(values.mean()) if values.size else math.nan


def sigmoid(logit):
    # the tanh form does not overflow for large negative logits, as 1 / (1 + exp(-x)) does
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(logit, dtype=np.float64)))


class Scorer:
    """A DeepfakeDetector in eval mode scoring RGB uint8 crops (N, size, size, 3)."""

    def __init__(self, weights: str | Path, model_name: str, size: int, batch: int = 32,
                 channels_last: bool = True):
        from .model import create, load_weights

        self.size, self.batch = int(size), int(batch)
        self.model = load_weights(create(model_name, "none"), weights).eval()
        # NHWC convolutions: 1.4-1.5x the images/s of NCHW for B4 on CPU
        # (benchmarks/evaluate.py measures both)
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.model = self.model.to(memory_format=self.memory_format)
        self.mean = np.array(config.IMAGENET_MEAN, np.float32) * 255
        self.std = np.array(config.IMAGENET_STD, np.float32) * 255

    @classmethod
    def from_folder(cls, folder: str | Path, **options) -> "Scorer":
        """The model_config.json of a logged model's artifacts folder, and its weights."""
        settings = json.loads((Path(folder) / MODEL_CONFIG).read_text())
        return cls(Path(folder) / settings["weights"], settings["model"], settings["size"],
                   **options)

    def score(self, crops: np.ndarray, features: bool = False):
        """Logits (N,), and with features=True also the pooled features (N, F)."""
        logits, feats = [], []
        with torch.inference_mode():
            for start in range(0, len(crops), self.batch):
                x = (np.asarray(crops[start:start + self.batch], np.float32) - self.mean) / self.std
                x = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(
                    memory_format=self.memory_format)
                pooled = self.model.features(x)
                logits.append(self.model.classifier(pooled).squeeze(1).numpy())
                if features:
                    feats.append(pooled.numpy())
        logits = np.concatenate(logits) if logits else np.zeros(0, np.float32)
        if not features:
            return logits
        return logits, (np.concatenate(feats) if feats else np.zeros((0, 0), np.float32))


@dataclass
class VideoScore:
    video: str
    p_fake: float  # NaN when the video could not be scored
    logit: float
    frames_sampled: int
    faces_found: int
    status: str  # the extract step's statuses: ok, no_face, too_short, truncated, unreadable, error
    message: str = ""

    @property
    def failed(self) -> bool:
        return math.isnan(self.p_fake)


def score_video(path: str | Path, detector, scorer: Scorer,
                settings: ExtractSettings = ExtractSettings()) -> VideoScore:
    """Sample, detect and crop as the extract step does (the crop passes through the same
    JPEG quality it is stored at), score each face, aggregate. Never raises for a bad file:
    the status and message say what went wrong."""
    try:
        sampled = read_sampled(path, settings.frames, settings.reader)
    except VideoReadError as err:
        return VideoScore(str(path), math.nan, math.nan, 0, 0, err.status, err.reason)
    except Exception as err:  # a damaged container can fail anywhere inside the decoder
        return VideoScore(str(path), math.nan, math.nan, 0, 0, "error",
                          f"{type(err).__name__}: {err}")
    crops = []
    for index in sampled.indices:
        _, crop = face_crop(sampled.frames.get(index), detector, settings)
        if crop is not None:
            crops.append(jpeg_roundtrip(crop, settings.quality, scorer.size))
    if not crops:
        return VideoScore(str(path), math.nan, math.nan, len(sampled.indices), 0, "no_face",
                          f"no face in {len(sampled.indices)} frames")
    logit = video_logit(scorer.score(np.stack(crops)))
    status, message = "ok", ""
    if sampled.truncated or not sampled.complete:
        status = "truncated"
        message = (f"{sampled.decodable} of the {sampled.total} declared frames decode; "
                   "scored the frames that do")
    return VideoScore(str(path), float(sigmoid(logit)), logit, len(sampled.indices),
                      len(crops), status, message)
