"""The `predict` stage: score videos with a tracked model (`deepfake-mlflow predict MODEL
VIDEO...`).

The model is loaded once through MLflow (mlflow.pyfunc.load_model, any URI it accepts,
models:/<name>@champion included) and each video goes through the logged model's own
predict: the same code `mlflow models serve` runs. Results stream, one per video.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Iterator

from .. import config
from ..errors import UserInputError
from ..options import option
from ..scoped_env import scoped_env
from ..serving_policy import CALIBRATED, NOT_CALIBRATED, ROOTS_ENV

HELP = "score videos with a model; one JSON line per video, exit 1 if any could not be scored"
EXAMPLES = """\
    deepfake-mlflow predict models:/deepfake-effnetb4-dfdc@champion clip.mp4
    deepfake-mlflow predict RUN_ID a.mp4 b.mp4 | jq .p_fake
"""


@dataclass(frozen=True)
class PredictConfig:
    model: str = option(help="models:/NAME@ALIAS, a run id, a URI or a model folder")
    videos: tuple = option((), nargs="*", help="video files")
    video_list: str = option("", help="comma list of videos (MLproject's form)")
    device: str = option(config.DEVICE, help="auto (CUDA when present), cpu, cuda or cuda:N")
    calibrated: bool = option(False, help="also p_fake_calibrated (temperature scaling fitted "
                                          "on the training's validation videos) and the "
                                          "verdict at the threshold picked on them")

    def all_videos(self) -> list[str]:
        return [str(v) for v in self.videos] + [v for v in self.video_list.split(",")
                                                if v.strip()]


CONFIG = PredictConfig


def load(model: str, device: str = config.DEVICE):
    """The pyfunc of any model reference evaluate accepts (run id, URI, local folder), on
    `device` (auto: CUDA when present), resolved here once."""
    import mlflow

    from .. import accel, compat
    from ..model_refs import resolve

    where = accel.resolve_device(device)  # a missing GPU fails before the model is fetched
    ref = resolve(model)
    try:
        # read by the model as it loads (the serving interface, set for the load alone):
        # the device resolved above, by name, and every path allowed (compat)
        with scoped_env(**{config.DEVICE_ENV: str(where),
                           ROOTS_ENV: compat.PREDICT_ROOTS_FOR_EARLIER_MODELS}):
            loaded = mlflow.pyfunc.load_model(ref.uri)
    except mlflow.exceptions.MlflowException as err:
        raise UserInputError(f"model {model}: {err.message.splitlines()[0]}") from None
    _check_is_detector(loaded, model)
    return loaded


def _check_is_detector(loaded, model: str) -> None:
    """A model of another project (a registered sklearn model, say) is named as such."""
    import mlflow

    from ..pyfunc import VideoDetector
    try:
        inner = loaded.unwrap_python_model()
    except mlflow.exceptions.MlflowException:  # another flavor than a Python model
        inner = None
    if not isinstance(inner, VideoDetector):
        flavors = ", ".join(f for f in loaded.metadata.flavors if f != "python_function")
        raise UserInputError(f"model {model} is not a video detector of this project "
                             f"({flavors or type(inner).__name__} model): expected one "
                             "logged by `deepfake-mlflow train`")


def _check_is_calibrated(loaded, model: str) -> None:
    """--calibrated on a model without a calibration fails before any video is read."""
    if getattr(loaded.unwrap_python_model(), "calibration", None) is None:
        raise UserInputError(f"model {model}: {NOT_CALIBRATED}; train it again, or leave "
                             "out --calibrated")


def run(cfg: PredictConfig) -> Iterator[dict]:
    """One result per video, in order: video, p_fake (None when it could not be scored),
    logit, frames_sampled, faces_found, status, message, seconds."""
    import pandas as pd

    videos = cfg.all_videos()
    if not videos:
        raise UserInputError("no video given")
    pyfunc = load(cfg.model, cfg.device)
    if cfg.calibrated:
        _check_is_calibrated(pyfunc, cfg.model)
    numbers = ("p_fake", "logit") + (("p_fake_calibrated",) if cfg.calibrated else ())
    try:
        for video in videos:
            started = time.perf_counter()
            row = pyfunc.predict(pd.DataFrame({"video": [video]}),
                                 params={CALIBRATED: True} if cfg.calibrated else None
                                 ).iloc[0].to_dict()
            if not cfg.calibrated:
                row.pop("p_fake_calibrated", None)
                row.pop("verdict", None)
            for key in numbers:  # JSON has no NaN: a video not scored gets null
                row[key] = None if row[key] is None or math.isnan(row[key]) else float(row[key])
            for key in ("frames_sampled", "faces_found"):
                row[key] = int(row[key])
            row["seconds"] = round(time.perf_counter() - started, 3)
            yield row
    finally:
        pyfunc.unwrap_python_model().close()


def report(results) -> int:
    """One JSON line per video as soon as it is scored; exit 1 if any could not be."""
    import json
    failed = 0
    for result in results:  # a generator: each line as soon as its video is scored
        failed += result["p_fake"] is None
        print(json.dumps(result), flush=True)
    return 1 if failed else 0
