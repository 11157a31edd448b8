"""What one request to the served model may ask for: which paths it may read, how many
videos, how many seconds, how many bytes.

A model served with `mlflow models serve` reads video paths on the serving host, so a
client must learn nothing about files it may not read: a path outside the configured roots
(DEEPFAKE_MLFLOW_VIDEO_ROOTS, folders separated by the OS path separator; symbolic links
followed) is answered "not allowed", the same for a file that exists and one that does not.
With no roots configured no path is read at all: send the video's bytes instead (column
video_b64, base64). A request scores at most DEEPFAKE_MLFLOW_MAX_VIDEOS videos within
DEEPFAKE_MLFLOW_MAX_SECONDS (below the server's own timeout, so that it answers instead of
timing out while the model stays busy); the rest are answered "skipped", with the limit.
`deepfake-mlflow predict` scores its own user's files: it allows every path.
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

ROOTS_ENV = "DEEPFAKE_MLFLOW_VIDEO_ROOTS"
MAX_VIDEOS_ENV = "DEEPFAKE_MLFLOW_MAX_VIDEOS"
MAX_SECONDS_ENV = "DEEPFAKE_MLFLOW_MAX_SECONDS"
NOT_ALLOWED = "not_allowed"
SKIPPED = "skipped"


@dataclass(frozen=True)
class ServingPolicy:
    roots: tuple[Path, ...]
    max_videos: int = config.SERVE_MAX_VIDEOS
    max_seconds: float = config.SERVE_MAX_SECONDS
    max_bytes: int = config.SERVE_MAX_VIDEO_BYTES

    @classmethod
    def from_environment(cls) -> "ServingPolicy":
        roots = tuple(Path(r).resolve() for r in os.environ.get(ROOTS_ENV, "").split(os.pathsep)
                      if r.strip())
        return cls(roots, _number(MAX_VIDEOS_ENV, int, config.SERVE_MAX_VIDEOS),
                   _number(MAX_SECONDS_ENV, float, config.SERVE_MAX_SECONDS))

    def refusal(self, path: str) -> str | None:
        """Why this path may not be read (one answer for every path outside the roots), or
        None when it may."""
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
