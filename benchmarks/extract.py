"""Extraction throughput against decoding the same frames alone, measured in one run.

    python benchmarks/extract.py [FOLDER_OF_VIDEOS]

Without a folder it measures DFDC-like videos: 1920x1080, 300 frames at 30 fps, H.264
CRF 23, made once from the real Pexels talking-head clip and cached. (The demo corpus's
48-frame 320-480 px videos decode almost for free, which measures the detector alone.)

Prints one JSON line: decode-only seconds (both readers), extraction seconds with 1 worker
and with all cores (one decoding thread per worker, decode-only likewise), and the ratios
the extract issue targets:
extract_1w / decode <= 1.5 and throughput(all) / throughput(1) >= 1.6 on 2 cores.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from deepfake_mlflow import config
from deepfake_mlflow.faces.pool import extract_faces
from deepfake_mlflow.faces.extract import ExtractSettings
from deepfake_mlflow.faces.sampling import READERS


def videos_in(folder: Path) -> pd.DataFrame:
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in config.VIDEO_EXTENSIONS)
    return pd.DataFrame({"key": [f"bench/{i:05d}" for i in range(len(files))],
                         "path": [str(p.relative_to(folder)) for p in files],
                         "status": "ok"})


def decode_seconds(folder: Path, videos: pd.DataFrame, reader: str) -> float:
    started = time.perf_counter()
    for rel in videos["path"]:
        READERS[reader](folder / rel, config.FRAMES_PER_VIDEO, threads=1)  # as a worker does
    return time.perf_counter() - started


def extract_seconds(folder: Path, videos: pd.DataFrame, workers: int,
                    pipelined: bool = True) -> float:
    """With pipelined=False (1 worker: in this process), each video is decoded first and
    its frames detected after, as before the decoding thread: the side-by-side reference."""
    from functools import partial

    from deepfake_mlflow.faces import extract
    pipeline = extract._sample_and_detect
    if not pipelined:
        extract._sample_and_detect = partial(pipeline, pipelined=False)
    try:
        with tempfile.TemporaryDirectory() as out:
            started = time.perf_counter()
            extract_faces(videos, folder, Path(out), ExtractSettings(), workers, progress=False)
            return time.perf_counter() - started
    finally:
        extract._sample_and_detect = pipeline


HD_CLIPS = 8


def hd_clips() -> Path:
    """DFDC-sized clips from the cached real clip (written once, then reused)."""
    import cv2

    from deepfake_mlflow import assets
    from deepfake_mlflow.corpus.video import read_frames, write_video

    folder = assets.cache_dir() / "bench-1080p"
    if len(list(folder.glob("*.mp4"))) >= HD_CLIPS:
        return folder
    source = read_frames(assets.path("WolfgangLanger_Pexels.mp4"))
    for k in range(HD_CLIPS):
        frames = (cv2.resize(source[(k * 97 + i) % len(source)], (1920, 1080),
                             interpolation=cv2.INTER_CUBIC) for i in range(300))
        write_video(folder / f"clip{k}.mp4", frames, fps=30)
    return folder


def main() -> None:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else hd_clips()
    videos = videos_in(folder)
    cores = os.cpu_count() or 1
    decode_seconds(folder, videos.head(4), "opencv")  # warm the page cache
    decode = {r: decode_seconds(folder, videos, r) for r in READERS}
    sequential = extract_seconds(folder, videos, 1, pipelined=False)
    one = extract_seconds(folder, videos, 1)
    many = extract_seconds(folder, videos, cores)
    print(json.dumps({
        "benchmark": "extract", "input": str(folder), "videos": len(videos), "frames_per_video": config.FRAMES_PER_VIDEO,
        "cores": cores, "decode_s": {k: round(v, 2) for k, v in decode.items()},
        "extract_1_worker_s": round(one, 2), f"extract_{cores}_workers_s": round(many, 2),
        "videos_per_s_1_worker": round(len(videos) / one, 2),
        f"videos_per_s_{cores}_workers": round(len(videos) / many, 2),
        "extract_over_decode_1_worker": round(one / decode["opencv"], 2),
        "extract_sequential_1_worker_s": round(sequential, 2),
        "sequential_over_decode_1_worker": round(sequential / decode["opencv"], 2),
        "pipeline_speedup_1_worker": round(sequential / one, 2),
        "pyav_over_opencv_decode": round(decode["pyav"] / decode["opencv"], 2),
        "speedup_all_workers": round(one / many, 2),
    }))


if __name__ == "__main__":
    main()
