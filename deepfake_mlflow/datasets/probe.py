"""Cheap per-video facts (frame count, fps, size) read from the container with PyAV.

A video that cannot be opened is not an error of the run: it gets status `unreadable` and
the reason, and the rest are still probed.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd

from ..vocabulary import VideoStatus


def probe_video(path: str | Path) -> dict:
    """{frames, fps, width, height} or {status: unreadable, reason: ...} for one file."""
    import av  # only probing needs PyAV: indexing without --probe works without it

    path = Path(path)
    try:
        if path.stat().st_size == 0:
            return {"status": VideoStatus.UNREADABLE, "reason": "empty file (0 bytes)"}
        with av.open(str(path)) as container:
            if not container.streams.video:
                return {"status": VideoStatus.UNREADABLE, "reason": "no video stream"}
            stream = container.streams.video[0]
            fps = float(stream.average_rate or stream.guessed_rate or 0)
            frames = stream.frames
            if not frames and stream.duration and stream.time_base:
                frames = int(round(float(stream.duration * stream.time_base) * fps))
            if not frames and container.duration:
                frames = int(round(container.duration / av.time_base * fps))
            if not frames:
                return {"status": VideoStatus.UNREADABLE, "reason": "no frames"}
            return {"frames": int(frames), "fps": fps, "width": stream.codec_context.width,
                    "height": stream.codec_context.height}
    except (av.error.FFmpegError, OSError) as err:
        return {"status": VideoStatus.UNREADABLE, "reason": f"cannot decode: {err}"}


def probe_index(frame: pd.DataFrame, root: str | Path, workers: int = 4) -> pd.DataFrame:
    """Fill the probe columns of every `ok` row; unreadable videos change status."""
    root = Path(root)
    todo = frame.index[frame["status"] == VideoStatus.OK]
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:  # PyAV releases the GIL
        facts = list(pool.map(probe_video, [root / p for p in frame.loc[todo, "path"]]))
    frame = frame.copy()
    for idx, fact in zip(todo, facts):
        for col, value in fact.items():
            frame.at[idx, col] = value
    return frame
