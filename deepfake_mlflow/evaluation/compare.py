"""Is variant A's AUC different from variant B's on the same test videos? A paired test.

Both variants score the same faces, so most of a test set's luck (which videos are easy)
is shared, and the difference of their AUCs varies far less than either AUC: the paired
bootstrap draws the test videos again with replacement (real and fake apart, a drawn video
with all its frames, as auc_interval does) and scores both variants on each draw.

With several seeds per variant, the compared value is each variant's mean AUC over its
seeds, and its uncertainty has two parts: the test videos (the bootstrap above, of the
means) and the training's own randomness (the AUCs' spread over seeds, s^2 / k for each
variant). They add up to one standard error; the test is a t test on it, its degrees of
freedom from Welch-Satterthwaite (videos - 2 for the test videos, real and fake; k - 1 for
each variant's seeds), and the bootstrap's variance is scaled by n / (n - 1), n the
smaller class, as the intervals are: a resample of n videos spreads less than new test
sets do (simulated: 0.74 of the variance at 5 videos a class, 0.85 at 10). Holm's step-down correction then holds the family-wise error of all the
comparisons of a study (every augmentation on every test set) at alpha.

Checked by simulation in tests/test_compare.py: at alpha 0.05 the false-positive rate of
two variants drawn from one distribution stays below 0.08, and a clear difference is
found at least 8 times in 10.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from .. import config
from .metrics import weighted_auc

BETTER, WORSE, TIED, TOO_FEW = "better", "worse", "not distinguishable", "too few videos"
ALIGN_ON = ["key", "frame"]  # a face of the test set: its video and its frame


@dataclass(frozen=True)
class Difference:
    """mean AUC of A minus mean AUC of B, its interval, and the test's p-value."""
    difference: float
    low: float
    high: float
    p_value: float
    real_videos: int
    fake_videos: int
    seeds_a: int
    seeds_b: int

    def as_dict(self) -> dict:
        return asdict(self)


def aligned(a: list[pd.DataFrame], b: list[pd.DataFrame]) -> tuple:
    """Predictions of A's and B's runs (one table per seed: key, frame, label, logit) on
    the faces all of them scored: labels, video keys, and the logits as (seeds, faces)
    arrays, one for A and one for B."""
    tables = [*a, *b]
    if not tables:
        raise ValueError("no predictions to compare")
    base = tables[0][[*ALIGN_ON, "label"]]
    for i, table in enumerate(tables):
        base = base.merge(table[[*ALIGN_ON, "logit"]].rename(columns={"logit": f"s{i}"}),
                          on=ALIGN_ON, how="inner")
    logits = base[[f"s{i}" for i in range(len(tables))]].to_numpy(np.float64).T
    return (base["label"].to_numpy(int), base["key"].to_numpy(), logits[:len(a)],
            logits[len(a):])


class Statistic:
    """What a paired comparison compares, per seed: `prepare` once per seed's values
    (faces,), then `value` of each resample's face weights (R, faces) -> (R,)."""

    bounds = (-1.0, 1.0)  # of the difference of two values

    def prepare(self, values: np.ndarray):
        return values

    def value(self, prepared, weights: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class FrameAuc(Statistic):
    """The frame AUC of a seed's logits; each seed's faces sorted once, a resample
    re-weights them."""

    def __init__(self, labels):
        self.labels = np.asarray(labels, dtype=int)

    def prepare(self, values):
        order = np.argsort(values, kind="stable")
        return values[order], self.labels[order], order

    def value(self, prepared, weights):
        ranked, labels, order = prepared
        return weighted_auc(ranked, labels, weights[:, order])


def paired_auc_difference(labels, groups, a, b, samples: int = config.BOOTSTRAP_SAMPLES,
                          seed: int = config.DEFAULT_SEED,
                          level: float = config.INTERVAL_LEVEL) -> Difference:
    """The paired comparison of two variants' frame AUCs on one test set. `a` and `b`
    hold logits as (seeds, faces) arrays over the same faces (labels, groups = video
    keys); b None compares A with nothing (mean_auc). NaN interval and p-value below
    config.INTERVAL_MIN_VIDEOS videos of a class. The interval is held within [-1, 1]."""
    a = np.atleast_2d(np.asarray(a, np.float64))
    b = None if b is None else np.atleast_2d(np.asarray(b, np.float64))
    return paired_difference(FrameAuc(labels), labels, groups, a, b, samples, seed, level)


def paired_difference(statistic: Statistic, labels, groups, a, b,
                      samples: int = config.BOOTSTRAP_SAMPLES, seed: int = config.DEFAULT_SEED,
                      level: float = config.INTERVAL_LEVEL) -> Difference:
    """The paired comparison of two variants' `statistic` on the same faces (labels and
    groups = video keys per face; a and b: one input of the statistic per seed, over those
    faces; b None or empty: A alone): the test and interval described above, the interval
    held within statistic.bounds."""
    from scipy import stats

    labels = np.asarray(labels, dtype=int)
    a, b = list(a), list(b) if b is not None else []
    codes, group_of = np.unique(np.asarray(groups), return_inverse=True)
    group_label = np.zeros(len(codes), dtype=int)
    group_label[group_of] = labels
    real, fake = np.flatnonzero(group_label == 0), np.flatnonzero(group_label == 1)
    every = np.ones((1, len(labels)))
    prepared_a = [statistic.prepare(s) for s in a]
    prepared_b = [statistic.prepare(s) for s in b]
    values_a = np.array([statistic.value(s, every)[0] for s in prepared_a])
    values_b = np.array([statistic.value(s, every)[0] for s in prepared_b])
    observed = float(values_a.mean() - (values_b.mean() if len(b) else 0.0))
    n = min(len(real), len(fake))
    counts = dict(real_videos=len(real), fake_videos=len(fake), seeds_a=len(a), seeds_b=len(b))
    if samples <= 0 or n < config.INTERVAL_MIN_VIDEOS or np.isnan(observed):
        return Difference(observed, np.nan, np.nan, np.nan, **counts)

    def seeds_mean(prepared, weights):
        if not len(prepared):  # no B: the interval of A's mean alone
            return np.zeros(len(weights))
        return np.mean([statistic.value(s, weights) for s in prepared], axis=0)

    def resampled_difference(real_drawn, fake_drawn, axis=-1):
        drawn = np.concatenate([np.atleast_2d(real_drawn), np.atleast_2d(fake_drawn)], axis=-1)
        weights = np.stack([np.bincount(row, minlength=len(codes)) for row in drawn])
        weights = weights[:, group_of].astype(np.float64)
        return seeds_mean(prepared_a, weights) - seeds_mean(prepared_b, weights)

    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        found = stats.bootstrap((real, fake), resampled_difference, n_resamples=samples,
                                method="percentile", vectorized=True,
                                batch=config.BOOTSTRAP_BATCH, random_state=seed)
    # the parts of the variance, each with its degrees of freedom; a resample the statistic
    # cannot score (NaN: one video drawn n times, for a statistic that needs two) left out
    spread = np.nanvar(found.bootstrap_distribution, ddof=1)
    parts = [(spread * n / (n - 1), len(real) + len(fake) - 2)]
    for values in (values_a, values_b):
        if len(values) > 1:
            parts.append((values.var(ddof=1) / len(values), len(values) - 1))
    variance = sum(v for v, _ in parts)
    if not variance > 0:  # every resample and seed alike: a difference without noise
        p = 1.0 if observed == 0 else 0.0
        return Difference(observed, observed, observed, p, **counts)
    df = variance ** 2 / sum(v ** 2 / d for v, d in parts)
    se = np.sqrt(variance)
    half = stats.t.ppf((1 + level) / 2, df) * se
    p = float(2 * stats.t.sf(abs(observed) / se, df))
    # a difference of two AUCs lies in [-1, 1]; a t interval on few videos and seeds (its
    # degrees of freedom few) can reach past that: bounded there. The test is the t test's,
    # unchanged (tests/test_compare.py's error rates hold).
    low, high = statistic.bounds
    return Difference(observed, max(low, observed - half), min(high, observed + half), p,
                      **counts)


def mean_auc(labels, groups, a, samples: int = config.BOOTSTRAP_SAMPLES,
             seed: int = config.DEFAULT_SEED) -> Difference:
    """One variant's mean frame AUC over its seeds (a: (seeds, faces) logits) with the
    interval of that mean: the test videos' and the seeds' uncertainty, as above, held
    within [0, 1] (a t interval on few videos can reach past an AUC's bounds)."""
    found = paired_auc_difference(labels, groups, a, None, samples, seed)
    return dataclasses.replace(found, low=max(0.0, found.low), high=min(1.0, found.high)) \
        if not np.isnan(found.low) else found


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjusted p-values (NaN stays NaN and is not counted): the
    smallest p times m, the next times m - 1, ..., made monotone, capped at 1."""
    p = np.asarray(p_values, dtype=np.float64)
    adjusted = np.full_like(p, np.nan)
    tested = np.flatnonzero(~np.isnan(p))
    order = tested[np.argsort(p[tested], kind="stable")]
    m = len(order)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return adjusted


def verdict(difference: float, adjusted_p: float, alpha: float = config.TEST_ALPHA) -> str:
    if np.isnan(adjusted_p):
        return TOO_FEW
    if adjusted_p >= alpha:
        return TIED
    return BETTER if difference > 0 else WORSE


SHORT = {BETTER: "better", WORSE: "worse", TIED: "n.d.", TOO_FEW: "n/a"}


def cell(row) -> str:
    """A comparison as a console cell: +0.052 [+0.01, +0.09] better; +0.052 n/a without an
    interval (too few videos)."""
    if pd.isna(row["low"]):
        return f"{row['difference']:+.3f} n/a"
    return (f"{row['difference']:+.3f} [{row['low']:+.2f}, {row['high']:+.2f}] "
            f"{SHORT[row['verdict']]}")


def footer(table: pd.DataFrame, seeds: str = "") -> str:
    """What a printed comparison rests on: its test videos (and `seeds`, said of them) and
    how verdicts are called."""
    videos = table.groupby("test_set")[["real_videos", "fake_videos"]].first()
    return ("test videos (real/fake): "
            + ", ".join(f"{t} {int(r.real_videos)}/{int(r.fake_videos)}"
                        for t, r in videos.iterrows())
            + (f"; {seeds}" if seeds else "")
            + f"; better/worse: Holm-adjusted p < {config.TEST_ALPHA} over the "
              f"{int(table['p_value'].notna().sum())} comparisons tested; n.d.: not "
              f"distinguishable; n/a: fewer than {config.INTERVAL_MIN_VIDEOS} videos of a "
              "class, no test")


def compare_pairs(pairs, seed: int = config.DEFAULT_SEED,
                  alpha: float = config.TEST_ALPHA) -> pd.DataFrame:
    """The paired comparison of each pair, then Holm over all of them: the one path of the
    ablation's verdicts against NONE and of `compare`. `pairs` yields (what, a, b): what
    the row compares (a dict of its labels), and A's and B's predictions on one test set
    (one table per seed: key, frame, label, logit)."""
    rows = []
    for what, a, b in pairs:
        labels, keys, logits_a, logits_b = aligned(a, b)
        found = paired_auc_difference(labels, keys, logits_a, logits_b, seed=seed)
        rows.append({**what, **found.as_dict()})
    return with_verdicts(rows, alpha)


def with_verdicts(rows: list[dict], alpha: float = config.TEST_ALPHA) -> pd.DataFrame:
    """Rows of Difference fields (and what they compare) -> a table with the Holm-adjusted
    p-value over all of them and each one's verdict."""
    table = pd.DataFrame(rows)
    if not len(table):
        return table
    table["p_holm"] = holm(table["p_value"])
    table["verdict"] = [verdict(d, p, alpha)
                        for d, p in zip(table["difference"], table["p_holm"])]
    return table


# --- a claim: several comparisons, one verdict ----------------------------------------------
SUPPORTED, CONTRADICTED, UNDECIDED, UNTESTABLE = (
    "supported", "contradicted", "not distinguishable", "not testable")
DIRECTIONS = ("better", "worse", "same")


def claim_verdict(table: pd.DataFrame, direction: str, alpha: float = config.TEST_ALPHA,
                  margin: float = config.CLAIM_EQUIVALENCE_MARGIN) -> tuple[str, str]:
    """The verdict of a claim on its comparisons (rows of difference, low, high, p_value:
    `a` minus `b`), and why, with Holm's correction within the claim.

    better / worse: supported when at least one comparison is significant the claim's way
    and none the other way; contradicted when the reverse; not distinguishable otherwise
    (none significant, or both ways: said so). same: supported when every interval lies
    within +-margin (an intersection of equivalence tests, which needs no correction);
    contradicted when some interval lies wholly outside it; not distinguishable otherwise.
    Not testable without a comparison that has an interval (too few videos)."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction {direction!r}: one of {', '.join(DIRECTIONS)}")
    tested = table[table["p_value"].notna()] if len(table) else table
    if not len(tested):
        return UNTESTABLE, (f"fewer than {config.INTERVAL_MIN_VIDEOS} test videos of a class "
                            "in every comparison" if len(table) else "nothing to compare")
    if direction == "same":
        inside = ((tested["low"] > -margin) & (tested["high"] < margin)).sum()
        outside = ((tested["low"] > margin) | (tested["high"] < -margin)).sum()
        if inside == len(tested):
            return SUPPORTED, f"all {len(tested)} intervals within \u00b1{margin:g} AUC"
        if outside:
            return CONTRADICTED, (f"{outside} of {len(tested)} intervals wholly beyond "
                                  f"\u00b1{margin:g} AUC")
        return UNDECIDED, (f"{len(tested) - inside} of {len(tested)} intervals reach past "
                           f"\u00b1{margin:g} AUC: too wide to tell")
    adjusted = holm(tested["p_value"])
    significant = adjusted < alpha
    up = int((significant & (tested["difference"].to_numpy() > 0)).sum())
    down = int((significant & (tested["difference"].to_numpy() < 0)).sum())
    agree, disagree = (up, down) if direction == "better" else (down, up)
    counts = (f"{agree} of {len(tested)} significant the paper's way, {disagree} the other "
              f"(Holm, alpha {alpha:g})")
    if agree and not disagree:
        return SUPPORTED, counts
    if disagree and not agree:
        return CONTRADICTED, counts
    return UNDECIDED, counts + (": mixed" if agree else "")
