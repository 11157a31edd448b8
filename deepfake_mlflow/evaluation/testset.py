"""A test set's stored faces, scored in chunks: memory stays flat for a full-size split.

Each chunk of crops is read once and scored clean and under every degradation of the
robustness sweep; pooled features are kept only for the videos the MDS projection needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .. import config, console, paths
from ..datasets.schema import read_table
from ..errors import UserInputError
from ..faces.crop import read_crop, stored_side
from ..faces.index import FACE_COLUMNS, missing_index_error
from ..scoring import Scorer
from ..vocabulary import SCORABLE

CHUNK = 256  # faces read and scored at a time
PREDICTION_COLUMNS = ["key", "frame", "face_path", "label", "subset", "method"]


@dataclass
class TestSet:
    name: str
    index: Path  # the faces index (faces.parquet)
    faces: pd.DataFrame  # rows of the split with a face crop
    unscored_videos: int  # videos of the split not scored (no_face, few_faces, ...)

    @property
    def faces_root(self) -> Path:
        return paths.faces_root(self.index)


def load_test_set(name: str, index: str | Path, split: str = config.EVAL_SPLIT) -> TestSet:
    index = Path(index)
    if not index.is_file():
        raise missing_index_error(index, name, f"test set {name}: ", f"; run `deepfake-mlflow "
                                  f"extract {name} ROOT` first, or name the file with {name}=PATH")
    frame = read_table(index, FACE_COLUMNS, "faces index")
    rows = frame[frame["split"] == split]
    with_face = rows[(rows["face_path"] != "")
                     & rows["video_status"].isin(SCORABLE)].reset_index(drop=True)
    if with_face.empty or with_face["label"].nunique() < 2:
        raise UserInputError(f"{index}: the {split} split needs faces of real and fake videos "
                             f"(found {with_face['key'].nunique()} videos with faces)")
    unscored = rows["key"].nunique() - with_face["key"].nunique()
    return TestSet(name, index, with_face, unscored)


@dataclass
class Scores:
    predictions: pd.DataFrame  # PREDICTION_COLUMNS + logit + one logit column per degradation
    features: dict[str, np.ndarray] = field(default_factory=dict)  # key -> (faces, F)


def degraded_column(kind: str, level: float) -> str:
    return f"logit_{kind}_{level:g}"


def score_test_set(test: TestSet, scorer: Scorer, degradations: dict | None = None,
                   feature_keys=()) -> Scores:
    degradations = degradations or {}
    stored = None
    logits = {None: []} | {point: [] for point in degradations}
    wanted = set(feature_keys)
    feats: dict[str, list[np.ndarray]] = {}
    faces = test.faces
    for start in console.progress(range(0, len(faces), CHUNK), desc=f"score {test.name}",
                                  unit="chunk"):
        chunk = faces.iloc[start:start + CHUNK]
        paths = [test.faces_root / p for p in chunk["face_path"]]
        if stored is None:
            stored = stored_side(paths[0], scorer.size)
        crops = np.stack([read_crop(p, scorer.size, stored) for p in paths])
        need = chunk["key"].isin(wanted).to_numpy()
        clean, pooled = scorer.score(crops, features=True) if need.any() else (
            scorer.score(crops), None)
        logits[None].append(clean)
        if pooled is not None:
            for key, vector in zip(chunk["key"].to_numpy()[need], pooled[need]):
                feats.setdefault(key, []).append(vector)
        for point, degrade in degradations.items():
            logits[point].append(scorer.score(degrade(crops)))
    out = faces[PREDICTION_COLUMNS].copy()
    out["logit"] = np.concatenate(logits[None])
    for point in degradations:
        out[degraded_column(*point)] = np.concatenate(logits[point])
    return Scores(out, {k: np.stack(v) for k, v in feats.items()})
