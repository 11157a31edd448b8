"""The logged model: an MLflow pyfunc that scores videos end to end.

Input: a DataFrame with a `video` column of file paths and/or a `video_b64` column of the
videos' bytes in base64. Paths are read freely in the user's own process (a notebook,
`predict`); behind `mlflow models serve` only inside the roots it is given
(DEEPFAKE_MLFLOW_VIDEO_ROOTS), or load_model(..., model_config={"video_roots": [...]});
a served request is bounded in videos and seconds (deepfake_mlflow.serving_policy).
Device: CUDA when present; DEEPFAKE_MLFLOW_DEVICE (cpu, cuda, cuda:N) set before loading
overrides it (`mlflow models serve`, `mlflow.pyfunc.load_model`; `predict --device` sets
it). Scores are computed in fp32 wherever they run.
Output: one row per video: p_fake, the video logit (null when not scored: JSON has no
NaN), frames sampled, faces found, status and message; with params {"calibrated": true},
also p_fake_calibrated and the verdict at the threshold, both fitted on the training
set's validation videos (evaluation/calibration.py; null otherwise).
Inside: the extract step's sampling, BlazeFace and square crop (with the
settings the training faces were made with), the JPEG round trip the stored faces went
through, the network, and the mean-logit aggregation, all from deepfake_mlflow.scoring.

The artifacts are the weights (safetensors), model_config.json and the BlazeFace .tflite:
nothing is pickled, and nothing is downloaded when the model loads.
"""

from __future__ import annotations

import math
import threading
import time
import warnings
from dataclasses import asdict, replace
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

from . import accel
from .faces.extract import ExtractSettings
from .scoring import ModelConfig
from .serving_policy import (CALIBRATED, LOGGED_MODEL_CONFIG, NOT_ALLOWED, NOT_CALIBRATED,
                             SKIPPED, SentVideo, ServingPolicy)
from .vocabulary import VideoStatus

PACKAGE_DIR = Path(__file__).resolve().parent
REQUIREMENTS = ("torch", "timm", "safetensors", "numpy", "pandas", "opencv-contrib-python",
                "mediapipe", "av", "mlflow")
INPUT_COLUMNS = ("video", "video_b64")  # a path on the serving host, or the bytes, base64
OUTPUT_COLUMNS = (("video", "string"), ("p_fake", "double"), ("logit", "double"),
                  ("frames_sampled", "long"), ("faces_found", "long"), ("status", "string"),
                  ("message", "string"),
                  # with params {"calibrated": true}: sigmoid(logit / T) and "fake" or "real"
                  # at the validation threshold (evaluation/calibration.py); else null
                  ("p_fake_calibrated", "double"), ("verdict", "string"))


class VideoDetector(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        from .evaluation.calibration import Calibration
        from .faces.detector import BlazeFace
        from .scoring import ModelConfig, Scorer

        settings = ModelConfig.load(context.artifacts["config"])
        self.calibration = Calibration.from_dict(settings.calibration)
        # model_config.json, not MLflow's model_config: its keys are logged as params of
        # the training run (only the video roots one may set at load go there)
        # the device `predict --device` or the server's environment names; scores in fp32
        compute = accel.Compute.resolve(accel.environment_device(), "fp32")
        self.scorer = Scorer(context.artifacts["weights"], settings.model, settings.size,
                             compute)
        self.extract = replace(ExtractSettings(**settings.extract),
                               detector=context.artifacts["detector"])
        self.detector = BlazeFace(self.extract.detector, self.extract.min_confidence)
        # which paths it reads: model_config at load, else the environment (serving_policy)
        self.policy = ServingPolicy.resolve(getattr(context, "model_config", None))
        # a serving worker may call predict from several threads; one detector, one at a time
        self.lock = threading.Lock()

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        columns = [c for c in INPUT_COLUMNS if c in model_input.columns]
        if not columns:  # an MlflowException: the server answers 400 with this line, not
            # a 500 with this process's stack trace (its paths) in the body
            from mlflow.exceptions import INVALID_PARAMETER_VALUE, MlflowException
            raise MlflowException(f"expected a DataFrame with a 'video' column of file paths "
                                  f"or a 'video_b64' column of base64 video bytes, got "
                                  f"columns {list(model_input.columns)}",
                                  error_code=INVALID_PARAMETER_VALUE)
        started, rows = time.monotonic(), []
        with self.lock:
            for i, item in enumerate(_items(model_input, columns)):
                if i >= self.policy.max_videos:
                    rows.append(_unscored(item, SKIPPED, f"over this request's limit of "
                                          f"{self.policy.max_videos} videos"))
                elif time.monotonic() - started > self.policy.max_seconds:
                    rows.append(_unscored(item, SKIPPED, f"this request's {self.policy.max_seconds:g}"
                                          " s were spent: send it again"))
                elif item[0] == BOTH:
                    rows.append(_unscored(("video", item[1]), VideoStatus.ERROR,
                                          "the row holds both a path (video) and bytes "
                                          "(video_b64): send one of them"))
                else:
                    rows.append(self._score(item))
        out = pd.DataFrame(rows, columns=[name for name, _ in OUTPUT_COLUMNS])
        if (params or {}).get(CALIBRATED):
            self._calibrate(out)
        for name in ("p_fake", "logit", "p_fake_calibrated", "verdict"):  # JSON: null, no NaN
            out[name] = out[name].astype(object).where(out[name].notna(), None)
        return out

    def _calibrate(self, out: pd.DataFrame) -> None:
        """The calibrated p_fake and the verdict at the validation threshold, in place."""
        scored = out["logit"].notna()
        if self.calibration is None:
            out.loc[scored, "message"] = out.loc[scored, "message"].map(
                lambda m: f"{m}; {NOT_CALIBRATED}" if m else NOT_CALIBRATED)
            return
        logits = out["logit"].astype(float)
        out["p_fake_calibrated"] = self.calibration.p_fake(logits)  # NaN stays NaN
        out["verdict"] = [None if math.isnan(v) else
                          "fake" if v >= self.calibration.threshold else "real" for v in logits]

    def _score(self, item: tuple[str, str]) -> dict:
        from .scoring import score_video

        kind, value = item
        if kind == "video_b64":
            with SentVideo(value, self.policy.max_bytes) as sent:
                if sent.path is None:
                    return _unscored((kind, sent.name), VideoStatus.ERROR, sent.error)
                row = asdict(score_video(sent.path, self.detector, self.scorer, self.extract))
                row["video"] = sent.name
                row["message"] = row["message"].replace(str(sent.path), sent.name)
                return row
        refusal = self.policy.refusal(value)
        if refusal:
            return _unscored(item, NOT_ALLOWED, refusal)
        return asdict(score_video(value, self.detector, self.scorer, self.extract))

    def close(self) -> None:
        """Release BlazeFace now (left to the garbage collector, MediaPipe complains at exit)."""
        if getattr(self, "detector", None) is not None:
            self.detector.close()
            self.detector = None


BOTH = "both"  # a row that sends a path and bytes: which one was meant is not guessed


def _items(frame: pd.DataFrame, columns: list[str]):
    """(column, value) per row: its path or its bytes; ("both", path) for a row holding
    both (answered as an error, not scored from one of them); ("video", "") for none."""
    for _, row in frame.iterrows():
        given = [(name, row[name]) for name in columns
                 if isinstance(row[name], str) and row[name]]
        if len(given) > 1:
            yield BOTH, dict(given)["video"]
        else:
            yield given[0] if given else ("video", "")


def _unscored(item: tuple[str, str], status: str, message: str) -> dict:
    kind, value = item
    shown = value if kind == "video" else (value if value.startswith("bytes:") else "bytes")
    return {"video": shown, "p_fake": math.nan, "logit": math.nan, "frames_sampled": 0,
            "faces_found": 0, "status": str(status), "message": message}


def signature() -> ModelSignature:
    return ModelSignature(inputs=Schema([ColSpec("string", name, required=False)
                                         for name in INPUT_COLUMNS]),
                          outputs=Schema([ColSpec(kind, name) for name, kind in OUTPUT_COLUMNS]),
                          params=ParamSchema([ParamSpec(CALIBRATED, "boolean", False)]))


def log_video_detector(weights: Path, model_name: str, size: int, folder: Path,
                       extract: ExtractSettings, name: str = "model", calibration=None):
    """Log the detector as an MLflow 3 logged model of the active run; returns ModelInfo.

    `folder` receives model_config.json, which names the weights file beside it and holds
    the calibration fitted on the validation videos (evaluation.calibration.Calibration)."""
    from .faces.detector import model_path

    detector_file = model_path(extract.detector)
    settings = ModelConfig(model_name, size, Path(weights).name,
                           {**extract.as_params(), "detector": detector_file.name},
                           calibration.as_dict() if calibration else None).save(folder)
    with warnings.catch_warnings():
        # an input example would name a video file that the loading host does not have
        warnings.filterwarnings("ignore", message=".*input example was not provided.*")
        return mlflow.pyfunc.log_model(
            name=name, python_model=str(PACKAGE_DIR / "serving_model.py"),
            artifacts={"weights": str(weights), "config": str(settings),
                       "detector": str(detector_file)},
            signature=signature(), code_paths=[str(PACKAGE_DIR)],
            # the keys load_model(model_config=...) may set (MLflow drops any other)
            model_config=dict(LOGGED_MODEL_CONFIG),
            pip_requirements=[_requirement(r) for r in REQUIREMENTS])


def _requirement(name: str) -> str:
    """name==version as installed, without a local build tag (torch's +cu130 is not on PyPI);
    unpinned when this environment lacks it (PyAV is optional where OpenCV reads videos)."""
    try:
        return f"{name}=={version(name).split('+')[0]}"
    except PackageNotFoundError:
        return name
