"""Video files in and out with PyAV (OpenCV cannot write H.264 here; PyAV bundles libx264)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Iterable

import av
import numpy as np

from .. import config
from ..paths import atomic_target


def write_video(path: str | Path, frames: Iterable[np.ndarray], fps: int = config.DEMO_FPS,
                crf: int = config.VIDEO_CRF) -> Path:
    """RGB uint8 frames -> H.264 mp4 at the given CRF (23 is what FF++ calls c23).

    Written to a temporary name and renamed, so a killed run never leaves a truncated
    video under the final name.
    """
    path = Path(path)
    with atomic_target(path) as tmp, av.open(str(tmp), mode="w") as container:
        stream = container.add_stream(config.VIDEO_CODEC, rate=Fraction(fps))
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf), "preset": "veryfast"}
        for i, frame in enumerate(frames):
            if i == 0:
                stream.height, stream.width = frame.shape[:2]
            packet = stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame),
                                                              format="rgb24"))
            container.mux(packet)
        container.mux(stream.encode())
    return path


def read_frames(path: str | Path, start: int = 0, count: int | None = None,
                step: int = 1) -> list[np.ndarray]:
    """Decode frames [start, start + count*step) every `step`, as RGB uint8 arrays."""
    out = []
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i < start or (i - start) % step:
                continue
            out.append(frame.to_ndarray(format="rgb24"))
            if count is not None and len(out) >= count:
                break
    return out
