"""The cost of the ablation's verdicts at the real scale: one paired comparison of two
variants on a DFDC-sized test set (5,000 videos x 32 faces = 160k faces, half real),
1000 resamples, with one and with three seeds per variant (a study compares 8
augmentations with NONE on each test set: 32 comparisons for four test sets).

    python benchmarks/comparison.py [--videos 5000] [--samples 1000]

Prints one JSON line: seconds per comparison for 1 and 3 seeds, and the peak memory of
the process.
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import numpy as np

from deepfake_mlflow.evaluation import compare


def simulated(rng, videos: int, frames: int, seeds: int, shift: float):
    labels = np.arange(videos) % 2
    difficulty = rng.normal(0.0, 1.0, videos)
    rows = [((difficulty + rng.normal(0.0, 0.5, videos) + shift * labels)[:, None]
             + rng.normal(0.0, 1.0, (videos, frames))).ravel() for _ in range(seeds)]
    return np.repeat(labels, frames), np.repeat(np.arange(videos), frames), np.array(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=5000)
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--samples", type=int, default=1000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    result = {"benchmark": "paired_comparison", "videos": args.videos,
              "faces": args.videos * args.frames, "samples": args.samples}
    for seeds in (1, 3):
        labels, keys, a = simulated(rng, args.videos, args.frames, seeds, 1.1)
        _, _, b = simulated(rng, args.videos, args.frames, seeds, 1.0)
        started = time.perf_counter()
        found = compare.paired_auc_difference(labels, keys, a, b, samples=args.samples)
        result[f"seconds_{seeds}_seed"] = round(time.perf_counter() - started, 2)
        result[f"p_value_{seeds}_seed"] = round(found.p_value, 4)
    result["peak_rss_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
