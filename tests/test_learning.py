"""The pipeline learns: index, extract, train and evaluate, end to end on real faces.

The corpus's real clips against copies of the same clips whose face is pixelated (a
manipulation any working detector separates): a small network trained for a few hundred
steps must reach an in-domain frame AUC of at least 0.95, and the same training with the
labels swapped at most 0.05. A flipped label, a wrong normalisation, a sampler that mixes
classes or a score with the wrong sign fails one of the two.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pandas as pd
import pytest

from deepfake_mlflow.corpus.video import read_frames, write_video
from deepfake_mlflow.evaluation.config import EvaluateConfig
from deepfake_mlflow.faces.crop import square_box
from deepfake_mlflow.faces.detector import BlazeFace
from deepfake_mlflow.stages import evaluate, extract, index, train
from deepfake_mlflow.train.config import TrainConfig

from helpers import tracking_into

PIXEL = 8  # a pixelated face is drawn from blocks of PIXEL x PIXEL source pixels
SPLITS = {"train": 0.6, "val": 0.15, "test": 0.25}


def pixelated(frame: np.ndarray, boxes) -> np.ndarray:
    """The frame with the square around each face (as the crop frames it) pixelated."""
    out = frame.copy()
    for box in boxes:
        x0, y0, side = square_box(box)
        x1, y1 = min(frame.shape[1], x0 + side), min(frame.shape[0], y0 + side)
        x0, y0 = max(0, x0), max(0, y0)
        face = out[y0:y1, x0:x1]
        if face.size:
            small = cv2.resize(face, (max(1, face.shape[1] // PIXEL),
                                      max(1, face.shape[0] // PIXEL)), interpolation=cv2.INTER_AREA)
            out[y0:y1, x0:x1] = cv2.resize(small, (face.shape[1], face.shape[0]),
                                           interpolation=cv2.INTER_NEAREST)
    return out


def boxes_of(frames, detector) -> list | None:
    """Every face box of every frame (a second face left intact would be a real face in a
    fake video); a frame without a face takes the boxes of the nearest frame with one."""
    found = [[d.box for d in detector.detect(frame)] for frame in frames]
    known = [i for i, boxes in enumerate(found) if boxes]
    if not known:
        return None
    return [found[min(known, key=lambda k: abs(k - i))] for i in range(len(frames))]


def write_pixelation_dataset(corpus, root) -> tuple:
    """real/<clip>.mp4 and fake/pixelate/<clip>.mp4 for every real clip of the corpus, and
    a split CSV that keeps a clip's real and fake copies in one split."""
    # the real clips of the layouts that say so in their paths (DFDC's labels are in JSON)
    clips = sorted(p for d in ("ff", "dfd", "celebdf") for p in (corpus / d).rglob("*.mp4")
                   if "original_sequences" in p.as_posix() or "-real" in p.as_posix())
    order = np.random.default_rng(0).permutation(len(clips))
    n_train, n_val = int(SPLITS["train"] * len(clips)), max(2, int(SPLITS["val"] * len(clips)))
    rows = []
    with BlazeFace("full") as detector:
        for rank, clip in enumerate(order):
            frames = read_frames(clips[clip])
            boxes = boxes_of(frames, detector)
            if boxes is None:
                continue
            split = "train" if rank < n_train else "val" if rank < n_train + n_val else "test"
            name = f"clip{rank:03d}.mp4"
            write_video(root / "real" / name, frames)
            write_video(root / "fake" / "pixelate" / name,
                        [pixelated(f, b) for f, b in zip(frames, boxes)])
            rows += [(f"real/{name}", split), (f"fake/pixelate/{name}", split)]
    split_csv = root / "splits.csv"
    pd.DataFrame(rows, columns=["path", "split"]).to_csv(split_csv, index=False)
    return split_csv


@pytest.fixture(scope="module")
def pixelation_faces(corpus, tmp_path_factory):
    """The pixelation dataset, indexed and extracted (8 frames a video, 64-px faces)."""
    root = tmp_path_factory.mktemp("pixelation")
    split_csv = write_pixelation_dataset(corpus, root)
    work = tmp_path_factory.mktemp("pixelation_work")
    with tracking_into(work, "prep.db"):
        videos = str(work / "videos.parquet")
        index.run(index.IndexConfig("folder", str(root), out=videos, split_csv=str(split_csv)))
        extract.run(extract.ExtractConfig("folder", str(root), index=videos, frames=8, size=64,
                                          workers=2, progress=False))
    return work / "faces.parquet"


def small_training(faces, **overrides) -> TrainConfig:
    """timm's test_resnet (373k parameters), from scratch, a few hundred steps:
    it learns this task steadily where test_efficientnet, at batches of 16, wavers."""
    return dataclasses.replace(TrainConfig(
        dataset="folder", faces=str(faces), model="test_resnet", pretrained="none",
        size=64, batch_size=16, lr=1e-3, max_iters=240, val_interval=40, val_size=64,
        patience=1000, workers=0, seed=0), **overrides)


def in_domain_auc(run_id: str, faces) -> float:
    table = evaluate.run(EvaluateConfig(run_id, {"folder": faces}, robustness="none",
                                        mds="none"))
    return float(table["auc_frame"].iloc[0])


@pytest.mark.slow
def test_the_pipeline_learns_and_a_label_swap_inverts_it(pixelation_faces, tmp_path):
    faces = pd.read_parquet(pixelation_faces)
    assert set(faces["split"]) == {"train", "val", "test"}
    assert (faces["face_path"] != "").mean() > 0.75  # most pixelated faces are still found

    learned = train.run(small_training(pixelation_faces))
    assert in_domain_auc(learned.run_id, pixelation_faces) >= 0.95

    swapped = tmp_path / "swapped" / "faces.parquet"  # same faces, labels reversed
    swapped.parent.mkdir()
    faces.assign(label=1 - faces["label"]).to_parquet(swapped, index=False)
    (swapped.parent / "faces").symlink_to(pixelation_faces.parent / "faces")
    (swapped.parent / "extract_settings.json").symlink_to(
        pixelation_faces.parent / "extract_settings.json")
    inverted = train.run(small_training(swapped))
    # scored against the true labels, the swapped model ranks every face the wrong way
    assert in_domain_auc(inverted.run_id, pixelation_faces) <= 0.05
