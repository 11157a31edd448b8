"""Scoring throughput and predict latency on a device, in one run.

    python benchmarks/evaluate.py [--device auto] [--video clip_1080p.mp4]

1. Scorer throughput: EfficientNetB4 on face crops at 64 and 256 px, fp32 (the default:
   scores equal on every device) and, on CUDA, bf16.
2. predict: a freshly initialised B4 (256 px) logged as the video pyfunc in a temporary
   store, loaded once on the device, then a 10-second 1080p video scored end to end (decode
   32 frames, BlazeFace, crop, network), several times: seconds per video. Without
   --video, one is written first (a real face under a moving camera, H.264 CRF 23, PyAV).
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

import mlflow  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from deepfake_mlflow import accel  # noqa: E402
from deepfake_mlflow.faces.extract import ExtractSettings  # noqa: E402
from deepfake_mlflow.model import create, save_weights  # noqa: E402
from deepfake_mlflow.stages import predict  # noqa: E402
from deepfake_mlflow.pyfunc import log_video_detector  # noqa: E402
from deepfake_mlflow.scoring import Scorer  # noqa: E402

ROUNDS = 3
HD = (1920, 1080)
SECONDS, FPS = 10, 25


def write_hd_video(path: Path) -> Path:
    """A 10 s 1080p clip of a real photo's face under a moving camera (needs PyAV)."""
    from deepfake_mlflow.corpus.motion import Look, still_clip
    from deepfake_mlflow.corpus.sources import load_sources
    from deepfake_mlflow.corpus.video import write_video
    from deepfake_mlflow.faces.detector import BlazeFace

    with BlazeFace("full") as detector:
        source = next(s for s in load_sources(detector) if not s.is_video)
    look = Look(HD[0], HD[1], face_frac=0.25, gain=(1.0, 1.0, 1.0), noise=2.0, blur=0.0)
    clip = still_clip(source, look, SECONDS * FPS, np.random.default_rng(0))
    return write_video(path, clip.frames, fps=FPS)


def throughput(scorer: Scorer, crops: np.ndarray) -> float:
    if scorer.device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    scorer.score(crops)  # returns numpy: the device has finished
    return len(crops) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--video", default="", help="a 1080p video (default: written here)")
    parser.add_argument("--runs", type=int, default=5, help="predict calls on the video")
    args = parser.parse_args()
    device = accel.resolve_device(args.device)
    work = Path(tempfile.mkdtemp(prefix="bench-evaluate-"))
    weights = save_weights(create("efficientnet_b4", "none"), work / "weights.safetensors")
    cuda = device.type == "cuda"
    result = {"benchmark": "evaluate", **accel.describe(device)}
    for size in (64, 256):
        faces = (2048 if cuda else 256) if size == 64 else (1024 if cuda else 64)
        crops = np.random.default_rng(0).integers(0, 255, (faces, size, size, 3), dtype=np.uint8)
        for precision in ("fp32", "bf16") if cuda else ("fp32",):
            scorer = Scorer(weights, "efficientnet_b4", size,
                            accel.Compute.resolve(device, precision))
            scorer.score(crops[:2 * scorer.batch])  # warm-up (cuDNN picks its kernels)
            speeds = [throughput(scorer, crops) for _ in range(ROUNDS)]
            result[f"faces_per_s_{size}px_{precision}"] = round(statistics.median(speeds), 1)
    try:
        result.update(predict_figures(args, device, weights, work))
    except Exception as err:  # a host without what the detector needs still reports scoring
        result["predict_error"] = f"{type(err).__name__}: {str(err).splitlines()[0]}"
    print(json.dumps(result), flush=True)


def predict_figures(args, device: torch.device, weights: Path, work: Path) -> dict:
    video = Path(args.video) if args.video else write_hd_video(work / "hd.mp4")
    mlflow.set_tracking_uri(f"sqlite:///{work}/mlflow.db")
    with mlflow.start_run():
        info = log_video_detector(weights, "efficientnet_b4", 256, work, ExtractSettings())
    started = time.perf_counter()
    rows = list(predict.run(predict.PredictConfig(info.model_uri, (str(video),) * args.runs,
                                                  device=str(device))))
    total = time.perf_counter() - started
    seconds = [r["seconds"] for r in rows]
    return dict(predict_video=f"{HD[0]}x{HD[1]}, {SECONDS} s at {FPS} fps",
                predict_runs=len(rows), predict_frames=rows[0]["frames_sampled"],
                predict_faces=rows[0]["faces_found"],
                predict_s_per_video_median=round(statistics.median(seconds[1:] or seconds), 3),
                predict_s_first_video=seconds[0], predict_load_s=round(total - sum(seconds), 2),
                predict_statuses=sorted({r["status"] for r in rows}))


if __name__ == "__main__":
    main()
