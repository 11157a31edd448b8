"""Small helpers the layout adapters share: listing videos, id pairing, the result type."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .. import config
from ..errors import MalformedFileError


@dataclass
class IndexResult:
    """An index plus notes: things the user should know that did not stop the indexing."""

    frame: pd.DataFrame
    split_rule: str  # how splits were decided, logged as a run param
    notes: list[str] = field(default_factory=list)


def read_text(path: Path) -> str:
    """A metadata or list file as text: UTF-8, with or without a byte-order mark (as
    spreadsheet programs write CSVs); anything else is refused naming the file."""
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise MalformedFileError(path, f"not UTF-8 text (byte {err.start}: "
                                       f"{err.object[err.start:err.start + 1]!r})") from None
    except OSError as err:
        raise MalformedFileError(path, f"cannot be read ({err.strerror})") from None


def read_json(path: Path):
    """A metadata file's JSON (dfdc's metadata.json, FF++'s split lists); invalid JSON is
    refused naming the file and the line."""
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as err:
        raise MalformedFileError(path, f"not valid JSON ({err.msg})", err.lineno) from None


def list_videos(folder: Path) -> list[Path]:
    """Video files directly in `folder`, sorted by name (file-system order is not stable)."""
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.suffix.lower() in config.VIDEO_EXTENSIONS)


class UnionFind:
    """Connected components of ids, for 'these videos must share a split'."""

    def __init__(self):
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def components(self) -> dict[str, str]:
        """id -> a readable component name: its ids joined by '+' (FF++ pairs: '000+003')."""
        members: dict[str, list[str]] = {}
        for x in list(self.parent):
            members.setdefault(self.find(x), []).append(x)
        return {x: "+".join(sorted(ids)) for ids in members.values() for x in ids}
