"""Celeb-DF (v2), as it unpacks.

    <root>/Celeb-real/id0_0000.mp4          real, celebrity interviews
    <root>/YouTube-real/00000.mp4           real, other YouTube clips
    <root>/Celeb-synthesis/id0_id16_0000.mp4  fake: the frames of id0_0000, the face of id16
    <root>/List_of_testing_videos.txt       lines "<mark> <folder>/<file>.mp4"

In the test list a mark of 1 means REAL and 0 means FAKE (the reverse of this project's
label; the folder of each line confirms it). The listed videos are the test set. Of the
rest, a seeded 15% is validation, drawn by source video so that a fake and its original
never fall into different splits, and among the celebrities' videos (which have fakes) and
the YouTube ones apart, so that it holds fakes; the remaining videos train.
"""

from __future__ import annotations

import re
from pathlib import Path

from .. import config
from ..errors import LayoutError, MalformedFileError
from ..vocabulary import VideoStatus
from . import schema, splits
from .common import IndexResult, list_videos, read_text

NAME = "celebdf"
LIST_LINE = re.compile(r"^\s*([01])\s+(\S+)\s*$")
FAKE_NAME = re.compile(r"^(id\d+)_(id\d+)_(\d+)$")
TEST_GROUP = "test-list"


def read_test_list(path: Path) -> dict[str, int]:
    """{relative path: label (0 real, 1 fake)} from List_of_testing_videos.txt."""
    listed = {}
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        match = LIST_LINE.match(line)
        if not match:
            raise MalformedFileError(path, f"expected '<1|0> <folder>/<file>.mp4', got {line!r}",
                                     number)
        mark, rel = int(match.group(1)), match.group(2)
        folder = rel.split("/", 1)[0]
        if folder not in config.CELEBDF_SUBSETS:
            raise MalformedFileError(path, f"unknown folder {folder!r}; expected one of "
                                           + ", ".join(config.CELEBDF_SUBSETS), number)
        label = config.REAL if mark == config.CELEBDF_LIST_REAL_MARK else config.FAKE
        if label != config.CELEBDF_SUBSETS[folder]:
            raise MalformedFileError(path, f"mark {mark} contradicts folder {folder} "
                                           "(1 marks a real video, 0 a fake)", number)
        listed[rel] = label
    return listed


def source_group(subset: str, stem: str) -> str:
    """The real video a clip comes from: a fake idA_idB_N comes from Celeb-real/idA_N."""
    if subset == "Celeb-synthesis":
        match = FAKE_NAME.match(stem)
        if match:
            return f"Celeb-real/{match.group(1)}_{match.group(3)}"
    return f"{subset}/{stem}"


def index(root: str | Path, seed: int = config.DEFAULT_SEED) -> IndexResult:
    root = Path(root)
    test_list = root / config.CELEBDF_TEST_LIST
    if not test_list.is_file() or not all((root / s).is_dir() for s in config.CELEBDF_SUBSETS):
        raise LayoutError(NAME, root, [f"{s}/" for s in config.CELEBDF_SUBSETS]
                          + [config.CELEBDF_TEST_LIST])
    listed = read_test_list(test_list)

    rows = []
    for subset, label in config.CELEBDF_SUBSETS.items():
        method = "Celeb-synthesis" if label == config.FAKE else config.ORIGINAL_METHOD
        for video in list_videos(root / subset):
            rel = video.relative_to(root).as_posix()
            group = TEST_GROUP if rel in listed else source_group(subset, video.stem)
            rows.append(schema.row(NAME, subset, rel, label, method, group))
    on_disk = {r["path"] for r in rows}
    for rel, label in sorted(listed.items()):
        if rel not in on_disk:
            subset = rel.split("/", 1)[0]
            r = schema.row(NAME, subset, rel, label,
                           "Celeb-synthesis" if label else config.ORIGINAL_METHOD, TEST_GROUP)
            r.update(status=VideoStatus.MISSING, reason=f"listed in {test_list.name}, not on disk")
            rows.append(r)

    # drawn among the celebrities' videos (the ones with fakes) and the YouTube ones apart,
    # so that the validation split holds fakes however few videos there are
    rest = [r["group"] for r in rows if r["group"] != TEST_GROUP]
    faked = {r["group"] for r in rows if r["label"] == config.FAKE}
    fraction = config.CELEBDF_VAL_FRACTION
    val = (splits.holdout_groups([g for g in rest if g in faked], fraction, seed)
           | splits.holdout_groups([g for g in rest if g not in faked], fraction, seed,
                                   minimum=0))
    keys = {r["key"] for r in rows}
    for r in rows:
        r["split"] = "test" if r["group"] == TEST_GROUP else ("val" if r["group"] in val else "train")
        if r["label"] == config.FAKE:  # keys are <dataset>/<subset>/<stem>
            original = f"{NAME}/{source_group('Celeb-synthesis', Path(r['path']).stem)}"
            r["source"] = original if original in keys else ""
    return IndexResult(schema.to_frame(rows), "celebdf-list+seeded-val")
