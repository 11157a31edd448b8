"""`deepfake-mlflow predict MODEL VIDEO...`: score videos with a tracked model.

The model is loaded once through MLflow (mlflow.pyfunc.load_model, any URI it accepts,
models:/<name>@champion included) and each video goes through the logged model's own
predict: the same code `mlflow models serve` runs. Results stream, one per video.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from pathlib import Path
from typing import Iterator

import mlflow
import pandas as pd

from . import accel, config, tracking
from .errors import UserInputError
from .model_refs import resolve


def load(model: str, device: str = config.DEVICE):
    """The pyfunc of any model reference evaluate accepts (run id, URI, local folder), on
    `device` (auto: CUDA when present)."""
    accel.resolve_device(device)  # a missing GPU fails before the model is fetched
    ref = resolve(model)
    try:
        with _environment(config.DEVICE_ENV, device):  # read by the model as it loads
            return mlflow.pyfunc.load_model(ref.uri)
    except mlflow.exceptions.MlflowException as err:
        raise UserInputError(f"model {model}: {err.message.splitlines()[0]}") from None


@contextlib.contextmanager
def _environment(name: str, value: str):
    saved = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = saved


def predict_videos(model: str, videos: list[str | Path],
                   device: str = config.DEVICE) -> Iterator[dict]:
    """One result per video, in order: video, p_fake (None when it could not be scored),
    logit, frames_sampled, faces_found, status, message, seconds."""
    if not videos:
        raise UserInputError("no video given")
    tracking.configure()
    pyfunc = load(model, device)
    try:
        for video in videos:
            started = time.perf_counter()
            row = pyfunc.predict(pd.DataFrame({"video": [str(video)]})).iloc[0].to_dict()
            for key in ("p_fake", "logit"):  # JSON has no NaN: a video not scored gets null
                row[key] = None if row[key] is None or math.isnan(row[key]) else float(row[key])
            for key in ("frames_sampled", "faces_found"):
                row[key] = int(row[key])
            row["seconds"] = round(time.perf_counter() - started, 3)
            yield row
    finally:
        pyfunc.unwrap_python_model().close()
