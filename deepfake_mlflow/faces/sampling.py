"""Uniform frame sampling: N frames spread over the whole video, frame-accurate.

Two readers return the same frames: OpenCV (grab() skips without converting to RGB) and
PyAV (decodes every frame, converts only the wanted ones). benchmarks/extract.py measures
both; OpenCV is the default because it was faster here (see README). Both decode
sequentially: seeking to key frames is not frame-accurate for H.264 with B-frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import config


class VideoReadError(Exception):
    """The file cannot be decoded as a video: `status` and `reason` say why."""

    def __init__(self, status: str, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


@dataclass
class SampledFrames:
    total: int  # frames the container declares
    fps: float
    indices: list[int]  # the frame indices asked for
    frames: dict[int, np.ndarray] = field(default_factory=dict)  # index -> RGB uint8

    @property
    def complete(self) -> bool:
        return len(self.frames) == len(self.indices)


def sample_indices(total: int, n: int = config.FRAMES_PER_VIDEO) -> list[int]:
    """n indices uniformly spaced over [0, total - 1], first and last frame included."""
    if total < n:
        raise VideoReadError("too_short", f"{total} frames, fewer than the {n} to sample")
    if n == 1:
        return [total // 2]
    return [int(round(i * (total - 1) / (n - 1))) for i in range(n)]


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise VideoReadError("unreadable", "file not found")
    if path.stat().st_size == 0:
        raise VideoReadError("unreadable", "empty file (0 bytes)")


def read_opencv(path: str | Path, n: int = config.FRAMES_PER_VIDEO) -> SampledFrames:
    import cv2

    path = Path(path)
    _check_file(path)
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise VideoReadError("unreadable", "cannot open as a video")
        total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        if total <= 0:
            raise VideoReadError("unreadable", "no frames")
        result = SampledFrames(total, fps, sample_indices(total, n))
        wanted = set(result.indices)
        for index in range(result.indices[-1] + 1):
            if not capture.grab():
                break
            if index in wanted:
                ok, bgr = capture.retrieve()
                if ok:
                    result.frames[index] = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        return result
    finally:
        capture.release()


def read_pyav(path: str | Path, n: int = config.FRAMES_PER_VIDEO) -> SampledFrames:
    import av

    path = Path(path)
    _check_file(path)
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoReadError("unreadable", "no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            fps = float(stream.average_rate or 0.0)
            total = stream.frames or int(round(float(container.duration or 0) / av.time_base * fps))
            if total <= 0:
                raise VideoReadError("unreadable", "no frames")
            result = SampledFrames(total, fps, sample_indices(total, n))
            wanted = set(result.indices)
            try:
                for index, frame in enumerate(container.decode(stream)):
                    if index in wanted:
                        result.frames[index] = frame.to_ndarray(format="rgb24")
                    if index >= result.indices[-1]:
                        break
            except av.error.FFmpegError:
                pass  # a damaged tail: what was decoded is kept, the rest is reported missing
            return result
    except av.error.FFmpegError as err:
        raise VideoReadError("unreadable", f"cannot decode: {err}") from None


READERS = {"opencv": read_opencv, "pyav": read_pyav}
DEFAULT_READER = "opencv"


def read_sampled(path: str | Path, n: int = config.FRAMES_PER_VIDEO,
                 reader: str = DEFAULT_READER) -> SampledFrames:
    return READERS[reader](path, n)
