"""Scoring with a trained detector: face crops -> logits (and features), video -> score.

One implementation for every door: `evaluate` scores the stored faces of a test set,
the logged model (pyfunc) and `predict` score videos, and all of them aggregate a video
the same way: the mean of its frames' logits (`video_logit`), then a sigmoid.
"""

from __future__ import annotations

import json
import math
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch

from . import accel, config, paths
from .errors import MalformedFileError
from .faces.crop import jpeg_roundtrip
from .faces.extract import ExtractSettings, face_crop
from .faces.sampling import VideoReadError, read_sampled
from .preprocess import MEMORY_FORMAT, to_model_input
from .vocabulary import VideoStatus

MODEL_CONFIG = "model_config.json"  # in every logged model, beside the weights it names


@dataclass(frozen=True)
class ModelConfig:
    """model_config.json: what a logged model needs besides its weights. Written once when
    training logs a model; read by evaluate (Scorer.from_folder) and the logged model."""
    model: str  # timm name
    size: int  # face side the network was trained at
    weights: str  # file name, beside model_config.json
    extract: dict  # ExtractSettings.as_params() of the training faces (detector: file name)
    # evaluation.calibration.Calibration.as_dict(), fitted on the validation videos at the
    # end of training; None in a model logged before calibration existed
    calibration: dict | None = None

    def save(self, folder: str | Path) -> Path:
        with paths.atomic_target(Path(folder) / MODEL_CONFIG) as tmp:
            tmp.write_text(json.dumps(asdict(self), indent=1))
        return Path(folder) / MODEL_CONFIG

    @classmethod
    def load(cls, path: str | Path) -> "ModelConfig":
        try:
            data = json.loads(Path(path).read_text())
            return cls(**{f.name: data[f.name] for f in fields(cls)
                          if f.name in data or f.default is MISSING})
        except FileNotFoundError:
            raise MalformedFileError(path, "missing: not a model this project logged") from None
        except (ValueError, KeyError, TypeError) as err:
            raise MalformedFileError(path, f"not a model config ({type(err).__name__}: "
                                           f"{err}): the model folder is damaged") from None


def video_logit(frame_logits) -> float:
    """A video's logit: the mean of its frames' logits (NaN when no face was scored)."""
    values = np.asarray(frame_logits, dtype=np.float64)
    return float(values.mean()) if values.size else math.nan


def sigmoid(logit):
    # the tanh form does not overflow for large negative logits, as 1 / (1 + exp(-x)) does
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(logit, dtype=np.float64)))


class Scorer:
    """A DeepfakeDetector in eval mode scoring RGB uint8 crops (N, size, size, 3) where
    `compute` says (default: CUDA when present, fp32)."""

    def __init__(self, weights: str | Path, model_name: str, size: int,
                 compute: accel.Compute | None = None, batch: int = config.SCORE_BATCH):
        from .model import create, load_weights

        compute = compute or accel.Compute.resolve(config.DEVICE, config.SCORE_PRECISION)
        self.size, self.batch = int(size), int(batch)
        self.device, self.precision = compute.device, compute.precision
        model = load_weights(create(model_name, "none"), weights).eval()
        self.model = model.to(self.device, memory_format=MEMORY_FORMAT)

    @classmethod
    def from_folder(cls, folder: str | Path, compute: accel.Compute | None = None) -> "Scorer":
        """The model_config.json of a logged model's artifacts folder, and its weights."""
        settings = ModelConfig.load(Path(folder) / MODEL_CONFIG)
        return cls(Path(folder) / settings.weights, settings.model, settings.size, compute)

    def score(self, crops: np.ndarray, features: bool = False):
        """Logits (N,), and with features=True also the pooled features (N, F)."""
        logits, feats = [], []
        with torch.inference_mode():
            for start in range(0, len(crops), self.batch):
                faces = torch.from_numpy(np.ascontiguousarray(crops[start:start + self.batch],
                                                              dtype=np.uint8))
                if self.device.type == "cuda":
                    faces = faces.pin_memory()
                x = to_model_input(faces, self.device)
                with self.precision.autocast():
                    pooled = self.model.features(x)
                    logit = self.model.classifier(pooled).squeeze(1)
                logits.append(logit.float().cpu().numpy())
                if features:
                    feats.append(pooled.float().cpu().numpy())
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
    status: str  # a vocabulary.VideoStatus, as the extract step records it
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
        return VideoScore(str(path), math.nan, math.nan, 0, 0, VideoStatus.ERROR,
                          f"{type(err).__name__}: {err}")
    crops = []
    for index in sampled.indices:
        _, crop = face_crop(sampled.frames.get(index), detector, settings)
        if crop is not None:
            crops.append(jpeg_roundtrip(crop, settings.quality, scorer.size))
    if not crops:
        return VideoScore(str(path), math.nan, math.nan, len(sampled.indices), 0,
                          VideoStatus.NO_FACE, f"no face in {len(sampled.indices)} frames")
    if len(crops) < config.MIN_FACE_RATIO * len(sampled.indices):
        return VideoScore(str(path), math.nan, math.nan, len(sampled.indices), len(crops),
                          VideoStatus.FEW_FACES, f"a face in {len(crops)} of "
                          f"{len(sampled.indices)} frames: too few to score")
    logit = video_logit(scorer.score(np.stack(crops)))
    status, message = VideoStatus.OK, ""
    if sampled.truncated or not sampled.complete:
        status = VideoStatus.TRUNCATED
        message = (f"{sampled.decodable} of the {sampled.total} declared frames decode; "
                   "scored the frames that do")
    return VideoScore(str(path), float(sigmoid(logit)), logit, len(sampled.indices),
                      len(crops), status, message)
