"""Uniform frame sampling: N frames spread over the whole video, frame-accurate.

Two readers return the same frames: OpenCV (grab() skips without converting to RGB) and
PyAV (decodes every frame, converts only the wanted ones). benchmarks/extract.py measures
both; OpenCV is the default because it was faster here (README). Both decode
sequentially: seeking to key frames is not frame-accurate for H.264 with B-frames.

Containers sometimes declare more frames than decode (edit lists, variable frame rate, a
file cut short). When decoding ends early, the N frames are sampled again over the frames
that do decode, and `decodable` says how many that was.

Each sampled frame keeps the time the decoder gives it (its presentation timestamp, in
seconds from the stream's start): index / fps is only right at a constant frame rate, and
phone videos (DFDC's among them) often vary theirs.
"""

from __future__ import annotations

from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from .. import config

TRUNCATION_TOLERANCE = 0.05  # up to 5% fewer frames than declared is a miscount, not damage


class VideoReadError(Exception):
    """The file cannot be decoded as a video: `status` and `reason` say why."""

    def __init__(self, status: str, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


@dataclass
class SampledFrames:
    total: int  # frames the container declares
    fps: float
    indices: list[int]  # the frame indices sampled
    frames: dict[int, np.ndarray] = field(default_factory=dict)  # index -> RGB uint8
    decodable: int = 0  # frames that actually decode (== total for a sound file)
    times: dict[int, float] = field(default_factory=dict)  # index -> seconds (decoder's)

    def timestamp(self, index: int) -> float:
        """The frame's presentation time in seconds; index / fps where the decoder gave
        none; NaN without either."""
        if index in self.times:
            return self.times[index]
        return index / self.fps if self.fps else float("nan")

    @property
    def complete(self) -> bool:
        return len(self.frames) == len(self.indices)

    @property
    def truncated(self) -> bool:
        return self.decodable < self.total * (1 - TRUNCATION_TOLERANCE)


def sample_indices(total: int, n: int = config.FRAMES_PER_VIDEO) -> list[int]:
    """n indices uniformly spaced over [0, total - 1], first and last frame included."""
    if total < n:
        raise VideoReadError("too_short", f"{total} frames, fewer than the {n} to sample")
    if n == 1:
        return [total // 2]
    return [int(round(i * (total - 1) / (n - 1))) for i in range(n)]


# (index, convert to RGB, presentation time in seconds or None)
FrameStream = Iterator[tuple[int, Callable[[], np.ndarray | None], float | None]]


OnFrame = Callable[[int, np.ndarray], None]  # called with each wanted frame as it decodes


def _collect(stream: FrameStream, indices: list[int], on_frame: OnFrame | None = None
             ) -> tuple[dict[int, np.ndarray], dict[int, float], int]:
    """Convert the wanted frames of a stream; return them, their times and how far
    decoding got."""
    wanted, last = set(indices), indices[-1]
    frames, times, decoded = {}, {}, 0
    with closing(stream):
        for index, convert, seconds in stream:
            decoded = index + 1
            if index in wanted:
                rgb = convert()
                if rgb is not None:
                    frames[index] = rgb
                    if seconds is not None:
                        times[index] = seconds
                    if on_frame is not None:
                        on_frame(index, rgb)
            if index >= last:
                break
    return frames, times, decoded


def _sample(open_stream: Callable[[], FrameStream], total: int, fps: float, n: int,
            on_frame: OnFrame | None = None) -> SampledFrames:
    indices = sample_indices(total, n)
    frames, times, decoded = _collect(open_stream(), indices, on_frame)
    decodable = total
    if len(frames) < len(indices) and decoded < total:
        if decoded < n:
            raise VideoReadError("truncated" if decoded else "unreadable",
                                 f"only {decoded} of {total} declared frames decode")
        decodable = decoded
        indices = sample_indices(decodable, n)  # resample over what does decode
        frames, times, _ = _collect(open_stream(), indices, on_frame)
    return SampledFrames(total, fps, indices, frames, decodable=decodable, times=times)


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise VideoReadError("unreadable", "file not found")
    if path.stat().st_size == 0:
        raise VideoReadError("unreadable", "empty file (0 bytes)")


def read_opencv(path: str | Path, n: int = config.FRAMES_PER_VIDEO,
                threads: int = 0, on_frame: OnFrame | None = None) -> SampledFrames:
    """threads: FFmpeg decoding threads (0: FFmpeg's choice, all cores; 1 in pool workers)."""
    import cv2

    path = Path(path)
    _check_file(path)

    def open_capture():
        return cv2.VideoCapture(str(path), cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, threads])

    def stream() -> FrameStream:
        capture = open_capture()
        try:
            index = 0
            while capture.grab():
                # after grab(), POS_MSEC is the grabbed frame's presentation time
                yield (index, lambda: _bgr_to_rgb(capture.retrieve()),
                       capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0)
                index += 1
        finally:
            capture.release()

    probe = open_capture()
    try:
        if not probe.isOpened():
            raise VideoReadError("unreadable", "cannot open as a video")
        total = int(probe.get(cv2.CAP_PROP_FRAME_COUNT))
        fps = float(probe.get(cv2.CAP_PROP_FPS) or 0.0)
    finally:
        probe.release()
    if total <= 0:
        raise VideoReadError("unreadable", "no frames")
    return _sample(stream, total, fps, n, on_frame)


def _bgr_to_rgb(retrieved) -> np.ndarray | None:
    import cv2

    ok, bgr = retrieved
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB) if ok else None


def read_pyav(path: str | Path, n: int = config.FRAMES_PER_VIDEO,
              threads: int = 0, on_frame: OnFrame | None = None) -> SampledFrames:
    import av

    path = Path(path)
    _check_file(path)

    def stream() -> FrameStream:
        with av.open(str(path)) as container:
            video = container.streams.video[0]
            video.thread_type = "AUTO"
            video.thread_count = threads
            try:
                start = video.start_time or 0
                for index, frame in enumerate(container.decode(video)):
                    seconds = (None if frame.pts is None or frame.time_base is None
                               else float((frame.pts - start) * frame.time_base))
                    yield index, lambda frame=frame: frame.to_ndarray(format="rgb24"), seconds
            except av.error.FFmpegError:
                return  # a damaged tail ends the stream; _sample handles the shortfall

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoReadError("unreadable", "no video stream")
            video = container.streams.video[0]
            fps = float(video.average_rate or 0.0)
            total = video.frames or int(round(float(container.duration or 0) / av.time_base * fps))
    except av.error.FFmpegError as err:
        raise VideoReadError("unreadable", f"cannot decode: {err}") from None
    if total <= 0:
        raise VideoReadError("unreadable", "no frames")
    return _sample(stream, total, fps, n, on_frame)


READERS = dict(zip(config.VIDEO_READERS, (read_opencv, read_pyav)))
DEFAULT_READER = config.VIDEO_READERS[0]


def read_sampled(path: str | Path, n: int = config.FRAMES_PER_VIDEO,
                 reader: str = DEFAULT_READER, threads: int = 0,
                 on_frame: OnFrame | None = None) -> SampledFrames:
    """The sampled frames; on_frame, when given, gets each as soon as it decodes (frames of
    a first pass may be sampled again over fewer frames: the result's indices are final)."""
    return READERS[reader](path, n, threads, on_frame)
