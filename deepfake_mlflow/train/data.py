"""Faces for training: the dataset, balanced and triplet batch samplers, the fixed
validation sample.

Every random draw comes from one torch.Generator per sampler, and each sample carries its
own augmentation seed, so a batch is a pure function of (sampler state, index): identical
whatever the number of loader workers, and identical after a resume. Under torchrun every
rank draws the same global batch and keeps its share (`shard`), so N processes see the
faces one process would.

Items are RGB uint8 (H, W, 3) tensors: normalisation happens on the training device
(deepfake_mlflow.preprocess), the one preprocessing scoring uses too.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset, Sampler

from .. import config
from ..vocabulary import SCORABLE
from ..faces.crop import read_crop, stored_side

VALIDATION_DRAW = 2**31  # the "iteration" the fixed validation sample is drawn at
# what a training reads of a faces index (the rest, boxes and sources, it never uses)
TRAINING_COLUMNS = ["key", "label", "split", "face_path", "video_status"]


def training_faces(faces: pd.DataFrame, split: str, train_videos: int = 0,
                   seed: int = config.DEFAULT_SEED) -> pd.DataFrame:
    """The faces of one split (videos that yielded faces), optionally limited to a seeded
    subsample of `train_videos` videos per class (the paper's data-limited Fig. 1)."""
    rows = faces[(faces["split"] == split) & (faces["face_path"] != "")
                 & faces["video_status"].isin(SCORABLE)]
    if train_videos:
        keep = []
        for label in (config.REAL, config.FAKE):
            keys = np.array(sorted(rows.loc[rows["label"] == label, "key"].unique()))
            rng = np.random.default_rng(seed + label)
            keep += list(rng.permutation(keys)[:train_videos])
        rows = rows[rows["key"].isin(keep)]
    return rows.reset_index(drop=True)


class FaceCrops(Dataset):
    """Items are (index, augmentation seed) pairs -> (HWC uint8 tensor, label)."""

    def __init__(self, faces: pd.DataFrame, faces_root: str | Path, size: int, augment=None):
        # Paths kept compact: each loader worker receives a pickled copy of the dataset, and
        # a list of 3.8M Python strings (DFDC) is about 400 MB a worker. A crop's path is its
        # video's folder (a few per video: codes into a short list) and its file name
        # (fixed-width bytes): about 15 bytes a face.
        codes, folders, self._names = split_paths(faces["face_path"])
        self._folders = [str(Path(faces_root) / folder) for folder in folders]
        self._folder_of = codes
        self.labels = torch.tensor(faces["label"].to_numpy(), dtype=torch.float32)
        self.size, self.augment = size, augment
        self._stored: int | None = None

    def __len__(self) -> int:
        return len(self._names)

    def path(self, index: int) -> str:
        return os.path.join(self._folders[self._folder_of[index]], self._names[index].decode())

    def _stored_side(self) -> int:
        """The side the crops were saved at (read once), for reduced JPEG decoding."""
        if self._stored is None:
            self._stored = stored_side(self.path(0), self.size)
        return self._stored

    def load(self, index: int) -> np.ndarray:
        return read_crop(self.path(index), self.size, self._stored_side())

    def __getitem__(self, item):
        index, seed = item
        image = self.load(index)
        if self.augment is not None and self.augment.transforms:
            self.augment.set_random_seed(int(seed))
            image = self.augment(image=image)["image"]
        return torch.from_numpy(np.ascontiguousarray(image)), self.labels[index]

    def stack(self, items: list[tuple[int, int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Items loaded in this process as one batch (the fixed validation sample)."""
        if not items:
            return (torch.zeros((0, self.size, self.size, 3), dtype=torch.uint8),
                    torch.zeros(0))
        images, labels = zip(*(self[item] for item in items))
        return torch.stack(images), torch.stack(labels)


def split_paths(paths: pd.Series) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Relative crop paths as (int32 folder codes, the folders, fixed-width file names),
    split by Arrow's kernels: about twice as fast as pandas' rpartition at a million."""
    import pyarrow as pa
    import pyarrow.compute as pc
    text = pa.array(paths, type=pa.large_string()) if len(paths) else pa.array(
        [], type=pa.large_string())
    parts = pc.split_pattern(text, "/", max_splits=1, reverse=True)
    if len(parts) and pc.min(pc.list_value_length(parts)).as_py() < 2:
        # a crop at the faces root itself (no folder): pandas splits those
        split = paths.astype(str).str.rpartition("/")
        codes, folders = pd.factorize(split[0], sort=False)
        return codes.astype(np.int32), list(folders), split[2].to_numpy(dtype=np.bytes_)
    encoded = pc.dictionary_encode(pc.list_element(parts, 0))
    names = pc.list_element(parts, 1).to_numpy(zero_copy_only=False)
    return (encoded.indices.to_numpy(zero_copy_only=False).astype(np.int32),
            encoded.dictionary.to_pylist(), names.astype(np.bytes_))


def shard(items: list, rank: int, world_size: int, group: int = 1) -> list:
    """This rank's share of a batch: whole groups of `group` consecutive items (a triplet is
    a group of 3), dealt round-robin, so real and fake stay balanced on every rank."""
    if world_size == 1:
        return items
    groups = [items[i:i + group] for i in range(0, len(items), group)]
    return [item for chunk in groups[rank::world_size] for item in chunk]


class _Drawing(Sampler):
    """Draws batch `i` from a generator seeded by (seed, i): a batch depends on its
    iteration number only, so prefetching workers and resumed runs see the same batches."""

    def __init__(self, labels: torch.Tensor, seed: int):
        self.real = torch.nonzero(labels == config.REAL).flatten()
        self.fake = torch.nonzero(labels == config.FAKE).flatten()
        if not len(self.real) or not len(self.fake):
            raise ValueError("training needs both real and fake faces")
        self.seed = seed
        self.start = 0  # the iteration the next __iter__ begins at (set on resume)
        self.rank, self.world_size = 0, 1  # set by `shard_for` under torchrun

    group = 1  # consecutive items that must stay on one rank

    def shard_for(self, rank: int, world_size: int) -> "_Drawing":
        self.rank, self.world_size = rank, world_size
        return self

    def _generator(self, iteration: int) -> torch.Generator:
        return torch.Generator().manual_seed(self.seed * 1_000_003 + iteration)

    @staticmethod
    def _draw(pool: torch.Tensor, n: int, g: torch.Generator) -> list[int]:
        """n indices; without replacement when the pool is large enough."""
        if len(pool) >= n:
            return pool[torch.randperm(len(pool), generator=g)[:n]].tolist()
        return pool[torch.randint(len(pool), (n,), generator=g)].tolist()

    @staticmethod
    def _with_seeds(batch: list[int], g: torch.Generator) -> list[tuple[int, int]]:
        return list(zip(batch, torch.randint(2**31 - 1, (len(batch),), generator=g).tolist()))

    def batch(self, iteration: int) -> list[tuple[int, int]]:
        raise NotImplementedError

    def __iter__(self):
        iteration = self.start
        while True:
            yield shard(self.batch(iteration), self.rank, self.world_size, self.group)
            iteration += 1


class BalancedBatches(_Drawing):
    """Batches of batch_size/2 real + batch_size/2 fake (index, augmentation seed) pairs;
    the smaller class is drawn with replacement when it has fewer faces than needed."""

    def __init__(self, labels: torch.Tensor, batch_size: int, seed: int):
        super().__init__(labels, seed)
        self.half = batch_size // 2

    def batch(self, iteration: int) -> list[tuple[int, int]]:
        g = self._generator(iteration)
        return self._with_seeds(self._draw(self.real, self.half, g)
                                + self._draw(self.fake, self.half, g), g)

    @staticmethod
    def validation(labels: torch.Tensor, faces: int, seed: int) -> list[tuple[int, int]]:
        return validation_items(labels, faces, seed)


class TripletBatches(_Drawing):
    """Batches of triplets flattened as [a, p, n, a, p, n, ...]: half (fake, fake, real),
    half (real, real, fake)."""

    group = 3

    def __init__(self, labels: torch.Tensor, triplets: int, seed: int):
        super().__init__(labels, seed)
        self.triplets = triplets

    def batch(self, iteration: int) -> list[tuple[int, int]]:
        g = self._generator(iteration)
        items = []
        for k in range(self.triplets):
            same, other = (self.fake, self.real) if k % 2 == 0 else (self.real, self.fake)
            items += self._draw(same, 2, g) + self._draw(other, 1, g)
        return self._with_seeds(items, g)

    @staticmethod
    def validation(labels: torch.Tensor, faces: int, seed: int) -> list[tuple[int, int]]:
        return validation_triplets(labels, max(2, faces // 3), seed)


def validation_items(labels: torch.Tensor, size: int, seed: int) -> list[tuple[int, int]]:
    """A fixed, balanced validation sample (never augmented)."""
    drawing = _Drawing(labels, seed)
    g = drawing._generator(VALIDATION_DRAW)
    half = min(size // 2, len(drawing.real), len(drawing.fake))
    picked = sorted(drawing._draw(drawing.real, half, g) + drawing._draw(drawing.fake, half, g))
    return [(i, 0) for i in picked]


def validation_triplets(labels: torch.Tensor, triplets: int, seed: int) -> list[tuple[int, int]]:
    """A fixed set of validation triplets (never augmented)."""
    return [(i, 0) for i, _ in TripletBatches(labels, max(2, triplets), seed).batch(VALIDATION_DRAW)]
