"""The paper's Fig. 2: the pooled features of N real/fake video pairs of a test set,
every face a point, projected to two dimensions with metric MDS (scikit-learn)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.manifold import MDS

from .. import config


def pick_pairs(faces: pd.DataFrame, pairs: int = config.MDS_PAIRS,
               seed: int = config.DEFAULT_SEED) -> list[str]:
    """`pairs` real and `pairs` fake video keys (fewer when the set has fewer), seeded."""
    rng = np.random.default_rng(seed)
    videos = faces.groupby("key")["label"].first()
    picked = []
    for label in (config.REAL, config.FAKE):
        keys = np.array(sorted(videos.index[videos == label]))
        picked += list(rng.permutation(keys)[:pairs]) if len(keys) else []
    return sorted(picked)


def project(features: dict[str, np.ndarray], labels: dict[str, int],
            seed: int = config.DEFAULT_SEED) -> pd.DataFrame:
    """One row per face: key, label, x, y (MDS on Euclidean distances of the features)."""
    keys = sorted(features)
    stacked = np.concatenate([features[k] for k in keys]).astype(np.float64)
    owners = np.concatenate([[k] * len(features[k]) for k in keys])
    mds = MDS(n_components=2, init="classical_mds", n_init=1, random_state=seed,
              metric="euclidean")
    xy = mds.fit_transform(stacked)
    return pd.DataFrame({"key": owners, "label": [labels[k] for k in owners],
                         "x": xy[:, 0], "y": xy[:, 1]})
