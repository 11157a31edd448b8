"""FaceForensics++ (the paper's DF), in the layout its download script writes.

    <root>/original_sequences/youtube/<c23>/videos/000.mp4 ... 999.mp4
    <root>/manipulated_sequences/<Method>/<c23>/videos/000_003.mp4 ...

A fake `000_003.mp4` holds the frames of original 000 (the target) with the face of 003
(the source). Neither id alone may decide its split: the target id would leak the identity
of 003 into another split, the source id the scene of 000. FF++ builds fakes in pairs
(000_003 and 003_000), so the unit of the split is the pair, found as the connected
component of the "appears in one fake" relation; the official train/val/test.json files
list exactly these pairs, and are honoured when given.
"""

from __future__ import annotations

import re
from pathlib import Path

from .. import config
from ..errors import LayoutError, MalformedFileError
from . import schema, splits
from .common import IndexResult, UnionFind, list_videos, read_json

NAME = "ff"
FAKE_NAME = re.compile(r"^(\d+)_(\d+)$")


def expected_layout(compression: str, methods=config.FF_METHODS) -> list[str]:
    return [f"original_sequences/{config.FF_ORIGINAL_SUBSET}/{compression}/videos/",
            f"manipulated_sequences/<{'|'.join(methods)}>/{compression}/videos/"]


def read_official_splits(folder: str | Path) -> dict[str, str]:
    """train.json/val.json/test.json (lists of id pairs) -> {id: split}."""
    folder = Path(folder)
    id_split: dict[str, str] = {}
    for split in config.SPLITS:
        path = folder / f"{split}.json"
        if not path.is_file():
            raise LayoutError("FF++ official split", folder,
                              [f"{s}.json" for s in config.SPLITS])
        pairs = read_json(path)
        if not isinstance(pairs, list):
            raise MalformedFileError(path, "expected a list of id pairs like [\"953\", \"974\"]")
        for n, pair in enumerate(pairs):
            if (not isinstance(pair, list) or len(pair) != 2
                    or not all(isinstance(i, str) and i.isdigit() for i in pair)):
                raise MalformedFileError(
                    path, f"entry {n} is {pair!r}; expected an id pair like [\"953\", \"974\"]")
            for vid in pair:
                if id_split.setdefault(vid, split) != split:
                    raise MalformedFileError(
                        path, f"id {vid} is in both {id_split[vid]} and {split}")
    return id_split


def index(root: str | Path, seed: int = config.DEFAULT_SEED,
          compression: str = config.DEFAULT_COMPRESSION, official_splits: str | None = None,
          split_shares: str = "", methods=config.FF_METHODS) -> IndexResult:
    root, dataset, original_subset = Path(root), NAME, config.FF_ORIGINAL_SUBSET
    orig_dir = root / "original_sequences" / original_subset / compression / "videos"
    method_dirs = {m: root / "manipulated_sequences" / m / compression / "videos" for m in methods}
    present = {m: d for m, d in method_dirs.items() if d.is_dir()}
    if not orig_dir.is_dir() or not present:
        raise LayoutError(dataset, root, expected_layout(compression, methods))
    notes = [f"method folder missing: {d.relative_to(root)}"
             for m, d in method_dirs.items() if m not in present]
    # FF++ ships more methods than the paper uses (FaceShifter, DeepFakeDetection's own
    # folder): said, so that a user who expected them in the index learns why they are not
    others = sorted(d.name for d in (root / "manipulated_sequences").iterdir()
                    if d.is_dir() and d.name not in methods)
    if others:
        notes.append(f"method folders not indexed (not among {', '.join(methods)}): "
                     + ", ".join(others))

    links = UnionFind()
    originals = list_videos(orig_dir)
    for video in originals:
        links.find(video.stem)
    fakes: list[tuple[str, Path, str, str]] = []
    for method, folder in present.items():
        for video in list_videos(folder):
            match = FAKE_NAME.match(video.stem)
            if not match:
                raise MalformedFileError(video, "expected a fake named <target>_<source>.mp4, "
                                                "e.g. 000_003.mp4")
            target, source = match.groups()
            links.union(target, source)
            fakes.append((method, video, target, source))
    group_of = links.components()

    if official_splits:
        id_split = read_official_splits(official_splits)
        split_of_group = {}
        for vid, group in group_of.items():
            split = id_split.get(vid)
            if split is None:
                continue
            if split_of_group.setdefault(group, split) != split:
                raise MalformedFileError(
                    official_splits, f"ids of group {group} (linked by a fake) are in "
                                     f"{split_of_group[group]} and {split}")
        rule = "official"
    else:
        split_of_group = splits.assign_groups(group_of.values(),
                                              splits.parse_shares(split_shares), seed)
        rule = "seeded-pairs"

    rows, unlisted = [], 0
    original_key = {}
    for video in originals:
        group = group_of[video.stem]
        if group not in split_of_group:
            unlisted += 1
            continue
        r = schema.row(dataset, original_subset, video.relative_to(root), config.REAL,
                       config.ORIGINAL_METHOD, group, split_of_group[group])
        original_key[video.stem] = r["key"]
        rows.append(r)
    for method, video, target, _source in fakes:
        group = group_of[target]
        if group not in split_of_group:
            unlisted += 1
            continue
        rows.append(schema.row(dataset, method, video.relative_to(root), config.FAKE, method,
                               group, split_of_group[group], original_key.get(target, "")))
    if unlisted:
        notes.append(f"{unlisted} videos left out: their ids are not in the official splits")
    return IndexResult(schema.to_frame(rows), rule, notes)
