"""Claim 7 (the paper's Fig. 2) as a number: how far a model's features keep real and fake
faces apart, with an interval over test videos.

The paper shows MDS pictures of the pooled features of 10 real and 10 fake videos and says
the triplet loss's clusters overlap less. The number here is a silhouette on those very
features (the full vectors, not the 2-D picture), made aware of videos: a face's
distance to its own class leaves out the other faces of its own video, which are near
copies of it and would make any model look well separated. Per face,
s = (b - a) / max(a, b), a the mean distance to faces of the *other* videos of its class,
b the mean distance to faces of the other class: 1 is apart, 0 overlapping, below 0 mixed
the wrong way. A model's separability is the mean of s over real faces and over fake faces,
averaged (so that the larger class does not weigh more).

Its interval and the comparison of two models come from the paired test of
evaluation/compare.py: the same videos drawn again for both, every face's silhouette
recomputed on each draw. An evaluation keeps the distances between the faces' features
(not the features: their size would grow with the backbone's width).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .. import config
from . import compare

def artifact(test_set: str) -> str:
    """Where an evaluation run keeps the distances of a test set's MDS faces."""
    return f"mds/{test_set}_distances.npz"


@dataclass
class FaceDistances:
    """The Euclidean distances between the pooled features of a test set's MDS faces (the
    features' own size never matters: at most 2 x MDS_PAIRS videos' faces, squared)."""
    keys: np.ndarray  # video key of each face
    face: np.ndarray  # index of the face within its video
    labels: np.ndarray
    distances: np.ndarray  # (faces, faces), float32

    @classmethod
    def of(cls, features: dict[str, np.ndarray], labels: dict[str, int]) -> "FaceDistances":
        from sklearn.metrics import pairwise_distances
        keys = sorted(features)
        if not keys:
            return cls(np.array([], str), np.array([], int), np.array([], int),
                       np.zeros((0, 0), np.float32))
        stacked = np.concatenate([features[k] for k in keys]).astype(np.float64)
        owner = np.concatenate([[k] * len(features[k]) for k in keys])
        face = np.concatenate([np.arange(len(features[k])) for k in keys])
        return cls(owner, face, np.array([labels[k] for k in owner], dtype=int),
                   pairwise_distances(stacked).astype(np.float32))

    def save(self, path: Path) -> Path:
        np.savez_compressed(path, keys=self.keys.astype(str), face=self.face,
                            labels=self.labels, distances=self.distances)
        return path

    @classmethod
    def load(cls, path: Path) -> "FaceDistances":
        with np.load(path) as saved:
            return cls(saved["keys"], saved["face"], saved["labels"], saved["distances"])

    def restricted(self, faces: pd.MultiIndex) -> np.ndarray:
        """The distances among `faces` (key, face) only, in their order."""
        position = pd.Series(np.arange(len(self.keys)),
                             index=pd.MultiIndex.from_arrays([self.keys, self.face]))
        chosen = position.loc[faces].to_numpy()
        return self.distances[np.ix_(chosen, chosen)]


class Silhouette(compare.Statistic):
    """The video-aware silhouette of each face, recomputed for every resample of videos
    (a pairwise measure: per-face values held fixed would make its interval far too
    narrow), then averaged over real faces and over fake faces, and the two averaged."""

    bounds = (-2.0, 2.0)  # of a difference; a silhouette lies in [-1, 1]

    def __init__(self, keys, labels):
        keys, labels = np.asarray(keys), np.asarray(labels, dtype=int)
        same_class = labels[:, None] == labels[None, :]
        self.own = (same_class & (keys[:, None] != keys[None, :])).astype(np.float64)
        self.other = (~same_class).astype(np.float64)
        self.fake = labels == 1

    def prepare(self, distances):
        d = np.asarray(distances, np.float64)
        return d * self.own, d * self.other

    def value(self, prepared, weights):
        own_d, other_d = prepared
        with np.errstate(invalid="ignore", divide="ignore"):
            own = (weights @ own_d.T) / (weights @ self.own.T)  # (resamples, faces)
            other = (weights @ other_d.T) / (weights @ self.other.T)
            s = (other - own) / np.maximum(own, other)
            drawn = np.where(np.isnan(s), 0.0, weights)  # a face without another video of
            s = np.nan_to_num(s)  # its class drawn has no silhouette
            means = [(drawn[:, m] * s[:, m]).sum(1) / drawn[:, m].sum(1)
                     for m in (~self.fake, self.fake)]
        return (means[0] + means[1]) / 2


def separability(found: FaceDistances, samples: int = config.BOOTSTRAP_SAMPLES,
                 seed: int = config.DEFAULT_SEED) -> compare.Difference:
    """One model's separability with its interval over videos (NaN below
    config.INTERVAL_MIN_VIDEOS videos of a class; NaN value below two)."""
    result = compare.paired_difference(Silhouette(found.keys, found.labels), found.labels,
                                       found.keys, [found.distances], None, samples, seed)
    if np.isnan(result.low):
        return result
    return dataclasses.replace(result, low=max(-1.0, result.low), high=min(1.0, result.high))


def paired_separability_difference(a: list[FaceDistances], b: list[FaceDistances],
                                   samples: int = config.BOOTSTRAP_SAMPLES,
                                   seed: int = config.DEFAULT_SEED) -> compare.Difference:
    """Variant A's separability minus B's (one FaceDistances per seed) on the faces all of
    them measured."""
    faces = None
    for found in [*a, *b]:
        mine = pd.MultiIndex.from_arrays([found.keys, found.face])
        faces = mine if faces is None else faces.intersection(mine, sort=False)
    faces = faces.sort_values()
    labels = pd.Series(a[0].labels, index=pd.MultiIndex.from_arrays([a[0].keys, a[0].face]))
    keys = faces.get_level_values(0).to_numpy()
    return compare.paired_difference(
        Silhouette(keys, labels.loc[faces].to_numpy()), labels.loc[faces].to_numpy(), keys,
        [f.restricted(faces) for f in a], [f.restricted(faces) for f in b], samples, seed)
