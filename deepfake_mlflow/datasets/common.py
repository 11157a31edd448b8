"""Small helpers the layout adapters share: listing videos, id pairing, the result type."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .. import config


@dataclass
class IndexResult:
    """An index plus notes: things the user should know that did not stop the indexing."""

    frame: pd.DataFrame
    split_rule: str  # how splits were decided, logged as a run param
    notes: list[str] = field(default_factory=list)


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
