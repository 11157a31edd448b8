"""Any collection of videos sorted into real/ and fake/ (subfolders allowed).

    <root>/real/**/<video>
    <root>/fake/**/<video>          the first folder below fake/ names the method, if any

Splits come from an optional CSV (columns `path,split`, paths relative to the root) or,
without one, a seeded 70/15/15 per label, each video its own group.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from .. import config
from ..errors import LayoutError, MalformedFileError, UserInputError
from ..vocabulary import VideoStatus
from . import schema, splits
from .common import IndexResult, read_text

NAME = "folder"


def _videos(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*")
                  if p.is_file() and p.suffix.lower() in config.VIDEO_EXTENSIONS)


def read_split_csv(path: Path) -> dict[str, str]:
    """{relative path: split} from a CSV with the columns path,split."""
    if not Path(path).is_file():
        raise UserInputError(f"--split-csv {path}: no such file")
    reader = csv.DictReader(io.StringIO(read_text(path), newline=""))
    if not reader.fieldnames or not {"path", "split"} <= set(reader.fieldnames):
        raise MalformedFileError(path, "expected a header with columns path,split", 1)
    out = {}
    for number, rec in enumerate(reader, start=2):
        rel = Path(rec["path"] or "")
        if rec["split"] not in config.SPLITS:
            raise MalformedFileError(path, f"split {rec['split']!r} is not one of "
                                           + "/".join(config.SPLITS), number)
        if len(rel.parts) < 2 or rel.parts[0] not in ("real", "fake"):
            raise MalformedFileError(path, f"path {rec['path']!r} is not under real/ or "
                                           "fake/ of the root", number)
        out[rel.as_posix()] = rec["split"]
    return out


def index(root: str | Path, seed: int = config.DEFAULT_SEED,
          split_csv: str | None = None) -> IndexResult:
    root = Path(root)
    if not (root / "real").is_dir() or not (root / "fake").is_dir():
        raise LayoutError(NAME, root, ["real/", "fake/ (folders of videos)"])
    rows = []
    for label, top in ((config.REAL, "real"), (config.FAKE, "fake")):
        for video in _videos(root / top):
            rel = video.relative_to(root)
            parts = rel.parts
            subset = parts[1] if len(parts) > 2 else top
            method = config.ORIGINAL_METHOD if label == config.REAL else subset
            r = schema.row(NAME, subset, rel, label, method, group="")
            r["key"] = f"{NAME}/{Path(*parts[:-1]).as_posix()}/{video.stem}"
            r["group"] = r["key"]
            rows.append(r)
    notes = []
    if split_csv:
        given = read_split_csv(Path(split_csv))
        kept = [r for r in rows if r["path"] in given]
        if len(kept) < len(rows):
            notes.append(f"{len(rows) - len(kept)} videos are not in {split_csv} and were left out")
        for r in kept:
            r["split"] = given[r["path"]]
        # listed but absent: kept as missing, as the other layouts keep what their lists name
        on_disk = {r["path"] for r in kept}
        for rel, split in given.items():
            if rel in on_disk:
                continue
            parts = Path(rel).parts
            top = parts[0] if parts else ""
            label = config.FAKE if top == "fake" else config.REAL
            subset = parts[1] if len(parts) > 2 else top
            r = schema.row(NAME, subset, rel, label,
                           config.ORIGINAL_METHOD if label == config.REAL else subset, group="")
            r["key"] = f"{NAME}/{Path(rel).parent.as_posix()}/{Path(rel).stem}"
            r.update(group=r["key"], split=split, status=VideoStatus.MISSING,
                     reason=f"listed in {Path(split_csv).name}, not on disk")
            kept.append(r)
        missing = len(kept) - len(on_disk)
        if missing:
            notes.append(f"{missing} videos listed in {split_csv} are not on disk (missing)")
        return IndexResult(schema.to_frame(kept), "csv", notes)
    for label in (config.REAL, config.FAKE):
        groups = [r["group"] for r in rows if r["label"] == label]
        split_of = splits.assign_groups(groups, config.FOLDER_SPLIT_FRACTIONS, seed + label)
        for r in rows:
            if r["label"] == label:
                r["split"] = split_of[r["group"]]
    return IndexResult(schema.to_frame(rows), "seeded-70-15-15", notes)
