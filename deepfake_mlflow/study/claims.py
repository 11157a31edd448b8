"""The paper's conclusions, judged on a study's own runs.

studies/claims.yaml states each claim as data: the variants it compares, on which test
sets, in which direction, and the figure or table it rests on. judge() gathers, for one
study's results, the predictions of both sides of every comparison the claim makes (every
training dataset and test set it names; a variant's seeds pooled), compares them with the
paired test of evaluation.compare, and calls a verdict on the claim with Holm's correction
within it (evaluation.compare.claim_verdict). A claim the study cannot test says why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .plan import STUDIES

CLAIMS_FILE = STUDIES / "claims.yaml"
SOURCES = ("grid", "data_limited", "ablation", "features")
TEST_SETS = ("in-domain", "cross-dataset", "all")
COLUMNS = ["claim", "verdict", "why", "says", "rests_on", "comparisons", "largest_effect"]
EVIDENCE = ["claim", "trained_on", "test_set", "a", "b", "train_videos", "difference", "low",
            "high", "p_value", "p_holm", "verdict", "real_videos", "fake_videos", "seeds_a",
            "seeds_b", "measure"]
FRAME_AUC, SEPARABILITY = "frame AUC", "separability"  # what a claim's differences measure


@dataclass(frozen=True)
class Claim:
    id: str
    says: str
    rests_on: str
    source: str
    direction: str
    a: dict = field(default_factory=dict)
    b: dict = field(default_factory=dict)
    test_sets: str = "all"
    trained_on: tuple = ()
    tested_on: tuple = ()

    def wants(self, trained: str, test: str) -> bool:
        """Whether a comparison trained on `trained` and tested on `test` is the claim's."""
        if self.trained_on and trained not in self.trained_on:
            return False
        if self.tested_on and test not in self.tested_on:
            return False
        return {"in-domain": trained == test, "cross-dataset": trained != test,
                "all": True}[self.test_sets]


def load(path: Path = CLAIMS_FILE) -> list[Claim]:
    """The claims of a claims file, each checked (a bad one named with its file)."""
    import yaml

    from ..errors import MalformedFileError
    from ..evaluation.compare import DIRECTIONS
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    claims = []
    for n, item in enumerate(data.get("claims") or []):
        try:
            claim = Claim(**{**item, "id": str(item["id"]),
                             "trained_on": tuple(item.get("trained_on", ())),
                             "tested_on": tuple(item.get("tested_on", ()))})
        except (TypeError, KeyError) as err:
            raise MalformedFileError(path, f"claim {n + 1}: {err}") from None
        for what, value, allowed in (("source", claim.source, SOURCES),
                                     ("direction", claim.direction, DIRECTIONS),
                                     ("test_sets", claim.test_sets, TEST_SETS)):
            if value not in allowed:
                raise MalformedFileError(path, f"claim {claim.id}: {what} {value!r}, "
                                               f"expected one of {', '.join(allowed)}")
        claims.append(claim)
    return claims


def _augment_tag(value: str) -> str:
    """A claim's augmentation as the runs tag it: none, bc+hf+hsv+jpeg for SELECTED."""
    from ..augment import parse
    from ..naming import augment_tag
    return augment_tag(parse(value))


def _side(variant: dict) -> dict:
    """A side of a comparison as table columns and values (loss, augment tag)."""
    found = {}
    if "loss" in variant:
        found["loss"] = str(variant["loss"]).lower()
    if "augment" in variant:
        found["augment"] = _augment_tag(str(variant["augment"]))
    return found


def _rows(table: pd.DataFrame, side: dict) -> pd.DataFrame:
    mask = pd.Series(True, index=table.index)
    for column, value in side.items():
        mask &= table[column].astype(str) == value
    return table[mask]


def _named(side: dict) -> str:
    return "/".join(str(v) for v in side.values()) or "-"


def _trained_pairs(claim: Claim, table: pd.DataFrame, group: list[str]) -> tuple[list, str]:
    """The comparisons of a grid or data-limited claim: (what, a's evaluation runs, b's)
    for every training dataset, group (data-limit point) and test set the claim wants."""
    a, b = _side(claim.a), _side(claim.b)
    pairs = []
    if table is None or not len(table):
        return [], "the study has no such runs"
    keyed = table.groupby(["train_dataset", *group, "test_set"], sort=True)
    for key, cell in keyed:
        trained, test = key[0], key[-1]
        if not claim.wants(trained, test):
            continue
        runs_a, runs_b = _rows(cell, a), _rows(cell, b)
        if not len(runs_a) or not len(runs_b):
            continue
        what = {"claim": claim.id, "trained_on": trained, "test_set": test, "a": _named(a),
                "b": _named(b), "train_videos": key[1] if group else 0}
        pairs.append((what, list(runs_a["eval_run_id"]), list(runs_b["eval_run_id"])))
    if not pairs:
        wanted = f" trained on {', '.join(claim.trained_on)}" if claim.trained_on else ""
        return [], (f"the study holds no {_named(a)} and {_named(b)} runs{wanted} on "
                    f"{claim.test_sets} test sets")
    return pairs, ""


def _loaded(pairs: list):
    """The pairs with their predictions, read one pair at a time: a claim over DFDC's grid
    never holds more than one cell's predictions (per seed) in memory."""
    from ..evaluation.predictions import predictions
    for what, runs_a, runs_b in pairs:
        test = what["test_set"]
        yield (what, [predictions(r, test) for r in runs_a],
               [predictions(r, test) for r in runs_b])


def _feature_rows(claim: Claim, table, seed: int) -> tuple[pd.DataFrame, str]:
    """Claim 7: the paired difference of the features' separability (evaluation/
    separability.py) on each test set whose MDS features the evaluations kept."""
    from ..evaluation import compare
    from ..evaluation.predictions import face_distances
    from ..evaluation.separability import paired_separability_difference
    if table is not None and len(table) and "eval_run_id" not in table:
        table = None
    pairs, reason = _trained_pairs(claim, table, [])
    rows = []
    for what, runs_a, runs_b in pairs:
        a = [face_distances(r, what["test_set"]) for r in runs_a]
        b = [face_distances(r, what["test_set"]) for r in runs_b]
        if any(t is None for t in a + b):
            continue  # no features kept of this test set
        rows.append({**what, **paired_separability_difference(a, b, seed=seed).as_dict(),
                     "measure": SEPARABILITY})
    if pairs and not rows:
        reason = ("the evaluations kept no features (the study's evaluate: mds names the "
                  "test sets whose features Fig. 2 projects)")
    return (compare.with_verdicts(rows) if rows else pd.DataFrame()), reason


def _ablation_rows(claim: Claim, results: dict, plan) -> tuple[pd.DataFrame, str]:
    """An ablation claim's rows of the ablation's comparison with NONE (its p-values are
    corrected again within the claim)."""
    summary = results.get("ablation") or {}
    table = summary.get("comparison")
    dataset = (plan.ablation or {}).get("dataset")
    if table is None or not len(table) or dataset is None:
        return pd.DataFrame(), "the study ran no ablation with test sets"
    if claim.trained_on and dataset not in claim.trained_on:
        return pd.DataFrame(), (f"the ablation ran on {dataset} only; the paper's claim "
                                f"{claim.id} needs {' and '.join(claim.trained_on)}")
    wanted = {_augment_tag(a) for a in claim.a.get("augment", [])}
    wants = table["test_set"].map(lambda test: claim.wants(dataset, test)).astype(bool)
    rows = table[table["augment"].isin(wanted) & wants]
    if not len(rows):
        return pd.DataFrame(), f"the ablation on {dataset} compared none of these"
    return rows.assign(claim=claim.id, trained_on=dataset, a=rows["augment"], b="none",
                       train_videos=0), ""


def judge(results: dict, plan, claims: list[Claim] | None = None,
          seed: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(one row per claim: its verdict, why, and its largest effect; every comparison
    behind the verdicts, with its p corrected within its claim)."""
    from .. import config
    from ..evaluation import compare
    seed = config.DEFAULT_SEED if seed is None else seed
    verdicts, evidence = [], []
    for claim in claims if claims is not None else load():
        reason = ""
        if claim.source == "features":
            rows, reason = _feature_rows(claim, results.get("matrix"), seed)
        elif claim.source == "ablation":
            rows, reason = _ablation_rows(claim, results, plan)
        else:
            table = results.get("matrix") if claim.source == "grid" else \
                results.get("data_limited")
            if table is not None and len(table) and "eval_run_id" not in table:
                table = None  # a table of an earlier version, without its evaluations
            group = ["train_videos"] if claim.source == "data_limited" else []
            pairs, reason = _trained_pairs(claim, table, group)
            rows = compare.compare_pairs(_loaded(pairs), seed=seed) if pairs \
                else pd.DataFrame()
        if len(rows):  # Holm within the claim (the ablation's rows were corrected over all)
            rows = compare.with_verdicts(rows.drop(columns=["p_holm", "verdict"],
                                                   errors="ignore").to_dict("records"))
            verdict, why = compare.claim_verdict(rows, claim.direction)
            if "measure" not in rows:
                rows["measure"] = FRAME_AUC
            evidence.append(rows.reindex(columns=EVIDENCE))
        else:
            verdict, why = compare.UNTESTABLE, reason
        verdicts.append({"claim": claim.id, "verdict": verdict, "why": why,
                         "says": claim.says, "rests_on": claim.rests_on,
                         "comparisons": int(rows["p_value"].notna().sum()) if len(rows) else 0,
                         "largest_effect": _largest(rows)})
    found = pd.concat(evidence, ignore_index=True) if evidence else \
        pd.DataFrame(columns=EVIDENCE)
    return pd.DataFrame(verdicts, columns=COLUMNS), found


def _largest(rows: pd.DataFrame) -> str:
    """The comparison with the largest difference, as a reader checks it:
    bce/selected vs bce/none, dfd -> celebdf +0.061 [+0.02, +0.10]."""
    tested = rows[rows["p_value"].notna()] if len(rows) else rows
    if not len(tested):
        return ""
    row = tested.loc[tested["difference"].abs().idxmax()]
    points = f", {int(row['train_videos'])} videos a class" if row.get("train_videos") else ""
    measure = " in separability" if row.get("measure") == SEPARABILITY else ""
    return (f"{row['a']} vs {row['b']}{points}, {row['trained_on']} -> {row['test_set']} "
            f"{row['difference']:+.3f} [{row['low']:+.2f}, {row['high']:+.2f}]{measure}")


def log(verdicts: pd.DataFrame, evidence: pd.DataFrame) -> None:
    """claims.csv, claims_evidence.csv and the counts of each verdict on the active run
    (the study's)."""
    import mlflow

    from .. import tracking
    from ..evaluation import compare
    tracking.logs.log_dataframe(verdicts, "claims.csv")
    tracking.logs.log_dataframe(evidence, "claims_evidence.csv")
    mlflow.log_metrics({
        "claims_supported": int((verdicts["verdict"] == compare.SUPPORTED).sum()),
        "claims_contradicted": int((verdicts["verdict"] == compare.CONTRADICTED).sum()),
        "claims_not_distinguishable": int((verdicts["verdict"] == compare.UNDECIDED).sum()),
        "claims_untestable": int((verdicts["verdict"] == compare.UNTESTABLE).sum())})


def printed(verdicts: pd.DataFrame) -> str:
    """The claims as the console shows them: one line each, its verdict and why."""
    lines = ["the paper's conclusions on this data (studies/claims.yaml):"]
    for row in verdicts.itertuples():
        effect = f"; largest: {row.largest_effect}" if row.largest_effect else ""
        lines.append(f"  {row.claim:<3} {row.verdict:<20} {row.says}")
        lines.append(f"      {row.rests_on}: {row.why}{effect}")
    return "\n".join(lines)
