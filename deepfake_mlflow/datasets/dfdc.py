"""The DeepFake Detection Challenge training set (DFDC), as its 50 archives unpack.

    <root>/dfdc_train_part_0/metadata.json + *.mp4
    ...
    <root>/dfdc_train_part_49/

metadata.json maps a file name to {"label": "REAL"|"FAKE", "split": "train",
"original": "<real>.mp4" (fakes only)}. The paper splits by part: 40-49 test, 35-39
validation, 0-34 train; the part is the split unit. Downloads are often partial: a missing
part is reported, never fatal; a listed but absent video stays in the index as `missing`.
"""

from __future__ import annotations

import re
from pathlib import Path

from .. import config
from ..errors import LayoutError, MalformedFileError
from ..vocabulary import VideoStatus
from . import schema
from .common import IndexResult, read_json

NAME = "dfdc"
PART_DIR = re.compile(r"^dfdc_train_part_(\d+)$")
LABELS = {"REAL": config.REAL, "FAKE": config.FAKE}


def split_of_part(part: int) -> str:
    if part in config.DFDC_TEST_PARTS:
        return "test"
    if part in config.DFDC_VAL_PARTS:
        return "val"
    return "train"


def read_metadata(path: Path) -> dict[str, dict]:
    entries = read_json(path)
    if not isinstance(entries, dict):
        raise MalformedFileError(path, "expected an object mapping file names to "
                                       "{\"label\": \"REAL\"|\"FAKE\", ...}")
    for name, entry in entries.items():
        if not isinstance(entry, dict) or entry.get("label") not in LABELS:
            raise MalformedFileError(path, f"entry {name!r} has no label REAL or FAKE "
                                           f"(got {entry!r:.80})")
    return entries


def index(root: str | Path, seed: int = config.DEFAULT_SEED) -> IndexResult:
    # the split is fixed by part number; `seed` is accepted for a uniform interface
    root = Path(root)
    parts = {}
    if root.is_dir():
        for child in root.iterdir():
            match = PART_DIR.match(child.name)
            if match and child.is_dir():
                parts[int(match.group(1))] = child
    if not parts:
        raise LayoutError(NAME, root, ["dfdc_train_part_<N>/ folders (N = 0..49), "
                                       "each with a metadata.json"])
    notes = []
    absent = [n for n in range(config.DFDC_NUM_PARTS) if n not in parts]
    if absent:
        notes.append(f"{len(absent)} of {config.DFDC_NUM_PARTS} parts missing: "
                     + ", ".join(map(str, absent)))

    rows, originals = [], {}
    unlisted = 0
    for number in sorted(parts):
        folder = parts[number]
        meta = folder / "metadata.json"
        if not meta.is_file():
            notes.append(f"{folder.name}: no metadata.json, part skipped")
            continue
        entries = read_metadata(meta)
        split = split_of_part(number)
        for name in sorted(entries):
            entry = entries[name]
            label = LABELS[entry["label"]]
            r = schema.row(NAME, folder.name, Path(folder.name) / name, label,
                           config.ORIGINAL_METHOD if label == config.REAL else NAME,
                           f"part:{number}", split, source=entry.get("original") or "")
            if not (folder / name).is_file():
                r.update(status=VideoStatus.MISSING, reason="listed in metadata.json, not on disk")
            if label == config.REAL:
                originals[name] = r["key"]
            rows.append(r)
        on_disk = {p.name for p in folder.glob("*.mp4")}
        unlisted += len(on_disk - set(entries))
    elsewhere = 0
    for r in rows:  # the metadata names the original's file; the index wants its key
        if r["source"] in originals:
            r["source"] = originals[r["source"]]
        elif r["source"]:  # in a part not downloaded, or not listed: kept by its file name
            elsewhere += 1
    if elsewhere:
        notes.append(f"{elsewhere} fakes name an original that is not in the indexed parts; "
                     "their source is its file name from metadata.json")
    if unlisted:
        notes.append(f"{unlisted} videos on disk are not in any metadata.json and were left out")
    return IndexResult(schema.to_frame(rows), "dfdc-parts", notes)
