"""Dataset layouts, keyed by name, each with what it expects on disk.

Like timm's model registry: one table maps a short name to the function that indexes that
layout and the facts a user needs about it; the CLI and MLproject look names up here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .. import config
from ..errors import UserInputError
from ..vocabulary import VideoStatus
from . import celebdf, dfd, dfdc, ff, folder, probe, schema
from .common import IndexResult


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    title: str
    build: Callable[..., IndexResult]
    layout: str  # what the root must contain, for --help and the README
    options: tuple[str, ...] = ()  # keyword options the builder accepts beyond root/seed


DATASETS: dict[str, DatasetSpec] = {
    s.name: s
    for s in [
        DatasetSpec("ff", "FaceForensics++ (DF)", ff.index,
                    "original_sequences/youtube/c23/videos, manipulated_sequences/<method>/c23/videos",
                    ("compression", "official_splits", "split_shares")),
        DatasetSpec("dfd", "DeepFakeDetection", dfd.index,
                    "original_sequences/actors/c23/videos, "
                    "manipulated_sequences/DeepFakeDetection/c23/videos", ("compression", "split_shares")),
        DatasetSpec("dfdc", "DeepFake Detection Challenge", dfdc.index,
                    "dfdc_train_part_<N>/ with metadata.json"),
        DatasetSpec("celebdf", "Celeb-DF v2", celebdf.index,
                    "Celeb-real/, YouTube-real/, Celeb-synthesis/, List_of_testing_videos.txt"),
        DatasetSpec("folder", "real/ + fake/ folders", folder.index, "real/, fake/",
                    ("split_csv",)),
    ]
}


def get(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except KeyError:
        raise UserInputError(f"unknown dataset {name!r}; choose one of "
                             + ", ".join(DATASETS)) from None


def build_index(name: str, root: str | Path, seed: int, probe_videos: bool = False,
                workers: int | None = None, **options) -> IndexResult:
    """Index one dataset root; with probe_videos, also read frames/fps/size of each video."""
    spec = get(name)
    given = {k: v for k, v in options.items() if v not in (None, "")}
    unknown = set(given) - set(spec.options)
    if unknown:
        raise UserInputError(f"dataset {name} does not take {sorted(unknown)}; it takes "
                             f"{list(spec.options) or 'no options'}")
    result = spec.build(root, seed=seed, **given)
    if result.frame.empty:
        raise UserInputError(f"{root}: no videos found as a {name} dataset (expected "
                             f"{spec.layout}, files ending in "
                             f"{', '.join(config.VIDEO_EXTENSIONS)})")
    if probe_videos:
        result.frame = probe.probe_index(result.frame, root, workers or os.cpu_count() or 1)
    counts = result.frame["status"].value_counts()
    for status, n in counts.items():
        if status != VideoStatus.OK:
            result.notes.append(f"{n} videos {status}")
    return result


__all__ = ["DATASETS", "DatasetSpec", "IndexResult", "build_index", "get", "schema"]
