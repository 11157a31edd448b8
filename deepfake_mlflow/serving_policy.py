"""What one request to the logged model may ask for: which paths it may read, how many
videos, how many seconds, how many bytes.

Where the model runs decides which paths it reads:
- in a user's own process (`mlflow.pyfunc.load_model` in a notebook, `deepfake-mlflow
  predict`): every path that user can read, as any library would;
- behind MLflow's scoring server (`mlflow models serve`, a container built by `mlflow
  models build-docker`): a client must learn nothing about files it may not read, so no
  path at all unless roots are configured (DEEPFAKE_MLFLOW_VIDEO_ROOTS, folders separated
  by the OS path separator); send the video's bytes instead (column video_b64, base64);
- wherever it runs, roots given at load confine it: `load_model(uri, model_config=
  {"video_roots": ["/data/videos"]})`, MLflow's own way of configuring a model as it
  loads (the model is logged with `video_roots: ""`, which MLflow also shows as a param
  of the training run).
A path outside the roots (symbolic links followed) is answered "not allowed", the same for
a file that exists and one that does not. A request scores at most DEEPFAKE_MLFLOW_MAX_VIDEOS
videos within DEEPFAKE_MLFLOW_MAX_SECONDS (below the server's own timeout, so that it
answers instead of timing out while the model stays busy); the rest are answered
"skipped", with the limit.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import config

CALIBRATED = "calibrated"  # the predict param asking for calibrated probabilities
NOT_CALIBRATED = ("this model carries no calibration (it was logged before training fitted "
                  "one on its validation videos)")

ROOTS_ENV = "DEEPFAKE_MLFLOW_VIDEO_ROOTS"
MODEL_CONFIG_ROOTS = "video_roots"  # the key of model_config at load (a list, or a string)
LOGGED_MODEL_CONFIG = {MODEL_CONFIG_ROOTS: ""}  # logged with the model: the key it accepts
MAX_VIDEOS_ENV = "DEEPFAKE_MLFLOW_MAX_VIDEOS"
MAX_SECONDS_ENV = "DEEPFAKE_MLFLOW_MAX_SECONDS"
NOT_ALLOWED = "not_allowed"
SKIPPED = "skipped"


# set by MLflow's scoring server for its process: by `mlflow models serve` before the model
# loads (the model's path), and once it serves
SERVER_MARKERS = ("__pyfunc_model_path__", "_MLFLOW_IS_IN_SERVING_ENVIRONMENT")


def behind_scoring_server() -> bool:
    return any(os.environ.get(name) for name in SERVER_MARKERS)


@dataclass(frozen=True)
class ServingPolicy:
    roots: tuple[Path, ...]
    max_videos: int = config.SERVE_MAX_VIDEOS
    max_seconds: float = config.SERVE_MAX_SECONDS
    max_bytes: int = config.SERVE_MAX_VIDEO_BYTES
    any_path: bool = False  # in the user's own process, without roots: their own files

    @classmethod
    def resolve(cls, model_config: dict | None = None,
                served: bool | None = None) -> "ServingPolicy":
        """The policy of a model being loaded: the roots of model_config (given at load),
        else of the environment; without roots, any path in a user's process and none
        behind the scoring server. The limits are the environment's (the server's)."""
        roots = (model_config or {}).get(MODEL_CONFIG_ROOTS) or os.environ.get(ROOTS_ENV, "")
        if isinstance(roots, str):
            roots = roots.split(os.pathsep)
        roots = tuple(Path(r).resolve() for r in roots if str(r).strip())
        served = behind_scoring_server() if served is None else served
        return cls(roots, _number(MAX_VIDEOS_ENV, int, config.SERVE_MAX_VIDEOS),
                   _number(MAX_SECONDS_ENV, float, config.SERVE_MAX_SECONDS),
                   any_path=not roots and not served)

    def refusal(self, path: str) -> str | None:
        """Why this path may not be read (one answer for every path outside the roots), or
        None when it may."""
        if self.any_path:
            return None
        if not self.roots:
            return (f"not allowed: this model reads no paths ({ROOTS_ENV} is not set); send "
                    "the video's bytes as video_b64")
        try:
            real = Path(path).resolve()  # symbolic links followed: no way out of a root
        except (OSError, RuntimeError, ValueError):
            real = None
        if real is None or not any(real.is_relative_to(root) for root in self.roots):
            return f"not allowed: outside the folders this model may read ({ROOTS_ENV})"
        return None


def _number(name: str, kind: type, default):
    try:
        value = kind(os.environ.get(name, default))
    except ValueError:
        return default
    return value if value > 0 else default


class SentVideo:
    """A video sent as base64 bytes, written to a private temporary file while it is scored;
    its name in the answer is bytes:<sha256 prefix>."""

    def __init__(self, encoded: str, max_bytes: int):
        self.path: Path | None = None
        self.error = ""
        try:
            data = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError, TypeError):
            self.name, self.error = "bytes:invalid", "video_b64 is not base64"
            return
        self.name = "bytes:" + hashlib.sha256(data).hexdigest()[:16]
        if len(data) > max_bytes:
            self.error = f"{len(data)} bytes: more than the {max_bytes} a video may have"
            return
        handle, name = tempfile.mkstemp(suffix=".video")
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        self.path = Path(name)

    def __enter__(self) -> "SentVideo":
        return self

    def __exit__(self, *exc) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)
