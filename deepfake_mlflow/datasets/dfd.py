"""DeepFakeDetection (DFD), as distributed with FaceForensics++.

    <root>/original_sequences/actors/<c23>/videos/01__exit_phone_room.mp4
    <root>/manipulated_sequences/DeepFakeDetection/<c23>/videos/01_02__exit_phone_room__YVGY8LOK.mp4

Originals are `<actor>__<scene>`; fakes `<target actor>_<source actor>__<scene>__<tag>`,
made from the original `<target actor>__<scene>`. The split unit is the actor: all of an
actor's originals, and every fake whose frames come from that actor, share one split
(720/140/140 proportions over actors). A fake's pasted face (the source actor) may belong
to an actor of another split; DFD pairs actors too densely to avoid that and keep every
split populated. The `source` column lets a user filter such fakes out.
"""

from __future__ import annotations

import re
from pathlib import Path

from .. import config
from ..errors import LayoutError, MalformedFileError
from . import schema, splits
from .common import IndexResult, list_videos

NAME = "dfd"
ORIGINAL_NAME = re.compile(r"^(\d+)__(.+)$")
FAKE_NAME = re.compile(r"^(\d+)_(\d+)__(.+?)__([A-Za-z0-9]+)$")


def index(root: str | Path, seed: int = config.DEFAULT_SEED,
          compression: str = config.DEFAULT_COMPRESSION, split_shares: str = "") -> IndexResult:
    root = Path(root)
    orig_dir = root / "original_sequences" / config.DFD_ORIGINAL_SUBSET / compression / "videos"
    fake_dir = root / "manipulated_sequences" / config.DFD_METHOD / compression / "videos"
    if not orig_dir.is_dir() or not fake_dir.is_dir():
        raise LayoutError(NAME, root, [
            f"original_sequences/{config.DFD_ORIGINAL_SUBSET}/{compression}/videos/",
            f"manipulated_sequences/{config.DFD_METHOD}/{compression}/videos/"])

    originals, fakes = [], []
    for video in list_videos(orig_dir):
        match = ORIGINAL_NAME.match(video.stem)
        if not match:
            raise MalformedFileError(video, "expected an original named <actor>__<scene>.mp4, "
                                            "e.g. 01__exit_phone_room.mp4")
        originals.append((video, match.group(1)))
    for video in list_videos(fake_dir):
        match = FAKE_NAME.match(video.stem)
        if not match:
            raise MalformedFileError(video, "expected a fake named <target>_<source>__<scene>__"
                                            "<tag>.mp4, e.g. 01_02__exit_phone_room__YVGY8LOK.mp4")
        target, _source, scene, _tag = match.groups()
        fakes.append((video, target, f"{target}__{scene}"))

    actors = {a for _, a in originals} | {t for _, t, _ in fakes}
    split_of = splits.assign_groups(actors, splits.parse_shares(split_shares), seed)

    rows = []
    for video, actor in originals:
        rows.append(schema.row(NAME, config.DFD_ORIGINAL_SUBSET, video.relative_to(root),
                               config.REAL, config.ORIGINAL_METHOD, f"actor:{actor}",
                               split_of[actor]))
    known = {r["key"] for r in rows}
    for video, target, original_stem in fakes:
        source = schema.video_key(NAME, config.DFD_ORIGINAL_SUBSET, original_stem)
        rows.append(schema.row(NAME, config.DFD_METHOD, video.relative_to(root), config.FAKE,
                               config.DFD_METHOD, f"actor:{target}", split_of[target],
                               source if source in known else ""))
    return IndexResult(schema.to_frame(rows), "seeded-actors")
