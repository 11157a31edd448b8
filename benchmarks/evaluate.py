"""Scoring throughput and predict latency, in one run.

    python benchmarks/evaluate.py [CORPUS]   (default demo/corpus, written by `make demo`;
                                              built at its smallest size when absent)

1. Scorer throughput on B4 crops at 64 and 256 px: NCHW against channels-last (the
   default), same weights, same inputs, alternated so machine noise hits both alike.
2. predict: a freshly initialised B4 (64 px, as the demo trains) logged as the video
   pyfunc in a temporary store, loaded once, then each video of the corpus's ff test
   originals timed from the file to its score (decode, BlazeFace, crop, network).
Prints one JSON line.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

import mlflow  # noqa: E402
import numpy as np  # noqa: E402

from deepfake_mlflow.faces.extract import ExtractSettings  # noqa: E402
from deepfake_mlflow.model import create, save_weights  # noqa: E402
from deepfake_mlflow.predict import predict_videos  # noqa: E402
from deepfake_mlflow.pyfunc import log_video_detector  # noqa: E402
from deepfake_mlflow.scoring import Scorer  # noqa: E402

FACES, ROUNDS = 256, 3


def throughput(scorer: Scorer, crops: np.ndarray) -> float:
    started = time.perf_counter()
    scorer.score(crops)
    return len(crops) / (time.perf_counter() - started)


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-evaluate-"))
    weights = save_weights(create("efficientnet_b4", "none"), work / "weights.safetensors")
    result = {}
    for size in (64, 256):
        crops = np.random.default_rng(0).integers(0, 255, (FACES if size == 64 else 64, size,
                                                           size, 3), dtype=np.uint8)
        scorers = {"nchw": Scorer(weights, "efficientnet_b4", size, channels_last=False),
                   "channels_last": Scorer(weights, "efficientnet_b4", size)}
        for scorer in scorers.values():
            scorer.score(crops[:32])  # warm-up
        speeds = {name: [] for name in scorers}
        for _ in range(ROUNDS):
            for name, scorer in scorers.items():
                speeds[name].append(throughput(scorer, crops))
        for name, values in speeds.items():
            result[f"faces_per_s_{size}px_{name}"] = round(statistics.median(values), 1)
        result[f"channels_last_speedup_{size}px"] = round(
            statistics.median(speeds["channels_last"]) / statistics.median(speeds["nchw"]), 2)

    corpus = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("demo/corpus")
    if not (corpus / "ff").is_dir():
        from deepfake_mlflow.corpus import build_corpus
        corpus = work / "corpus"
        build_corpus(corpus, size=6, seed=0)
    videos = sorted((corpus / "ff" / "original_sequences").rglob("*.mp4"))[:6]
    mlflow.set_tracking_uri(f"sqlite:///{work}/mlflow.db")
    with mlflow.start_run():
        info = log_video_detector(weights, "efficientnet_b4", 64, work, ExtractSettings())
    started = time.perf_counter()
    rows = list(predict_videos(info.model_uri, videos))
    total = time.perf_counter() - started
    per_video = [r["seconds"] for r in rows]
    result.update(predict_videos=len(rows), predict_frames=rows[0]["frames_sampled"],
                  predict_s_per_video_median=round(statistics.median(per_video), 3),
                  predict_s_first_video=per_video[0],
                  predict_load_s=round(total - sum(per_video), 2),
                  predict_statuses=sorted({r["status"] for r in rows}))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
