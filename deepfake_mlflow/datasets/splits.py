"""Seeded, deterministic split rules at the level of groups (never frames, never videos alone).

A group is whatever must not straddle two splits: an FF++ id pair, a DFD actor, a Celeb-DF
source video. Groups are shuffled with a seeded generator after sorting, so the result
depends only on the set of group names and the seed, not on file-system order.
"""

from __future__ import annotations

import numpy as np

from .. import config


PROTOCOL_SHARES = ":".join(str(config.FF_SPLIT_COUNTS[k]) for k in config.SPLITS)


def parse_shares(text: str) -> dict[str, float]:
    """'720:140:140' (train:val:test weights; empty: the protocol's) -> {split: weight}."""
    from ..errors import UserInputError
    parts = (text or PROTOCOL_SHARES).split(":")
    try:
        weights = [float(v) for v in parts]
    except ValueError:
        weights = []
    if len(weights) != len(config.SPLITS) or not all(w >= 0 for w in weights) or \
            not all(w > 0 for w in weights[::2]):
        raise UserInputError(f"split shares {text!r}: expected train:val:test weights, e.g. "
                             f"{PROTOCOL_SHARES} (train and test above 0)")
    return dict(zip(config.SPLITS, weights))


def proportional_counts(n: int, weights: dict[str, float]) -> dict[str, int]:
    """Split n items by weights, largest remainders, every split non-empty when n allows."""
    names = list(weights)
    total = float(sum(weights.values()))
    exact = [n * weights[k] / total for k in names]
    counts = [int(np.floor(x)) for x in exact]
    order = np.argsort([-(x - c) for x, c in zip(exact, counts)], kind="stable")
    for i in order[: n - sum(counts)]:
        counts[i] += 1
    # small n: move one from the largest split to each empty one, so all are populated
    if n >= len(names):
        for i, c in enumerate(counts):
            if c == 0:
                donor = int(np.argmax(counts))
                counts[donor] -= 1
                counts[i] += 1
    return dict(zip(names, counts))


def assign_groups(groups, weights: dict[str, float], seed: int) -> dict[str, str]:
    """Map each distinct group to a split, in the proportions of weights."""
    unique = sorted(set(groups))
    rng = np.random.default_rng(seed)
    shuffled = [unique[i] for i in rng.permutation(len(unique))]
    counts = proportional_counts(len(unique), weights)
    out, start = {}, 0
    for split in config.SPLITS:
        for g in shuffled[start : start + counts.get(split, 0)]:
            out[g] = split
        start += counts.get(split, 0)
    return out


def holdout_groups(groups, fraction: float, seed: int, name: str = "val",
                   minimum: int = 1) -> set[str]:
    """A seeded `fraction` of the distinct groups (at least `minimum` when there are two
    or more)."""
    unique = sorted(set(groups))
    if not unique:
        return set()
    k = int(round(len(unique) * fraction))
    if len(unique) >= 2:
        k = max(k, minimum)
    rng = np.random.default_rng(seed)
    return {unique[i] for i in rng.permutation(len(unique))[:k]}
