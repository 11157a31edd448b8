"""The paired comparison of two variants on the same test videos, checked by simulation
(numpy only, no training): its false-positive rate, its power, Holm's correction."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from deepfake_mlflow.evaluation import compare


def _two_variants(rng, videos=10, frames=32, shift_a=1.0, shift_b=1.0, seeds=1, seed_sd=0.0):
    """Two variants scoring the same videos: each video has a difficulty both variants
    see (N(0, 1)), each variant its own take on it (N(0, 0.5)), a seed its own offset of
    the class shift (N(0, seed_sd)), and 32 correlated frames (N(video level, 1)).
    Returns labels, video keys and the logits of A and B as (seeds, faces)."""
    labels = np.arange(videos) % 2
    difficulty = rng.normal(0.0, 1.0, videos)
    variants = []
    for shift in (shift_a, shift_b):
        rows = []
        for _ in range(seeds):
            level = difficulty + rng.normal(0.0, 0.5, videos) \
                + (shift + rng.normal(0.0, seed_sd)) * labels
            rows.append((level[:, None] + rng.normal(0.0, 1.0, (videos, frames))).ravel())
        variants.append(np.array(rows))
    return np.repeat(labels, frames), np.repeat(np.arange(videos), frames), *variants


def _rejections(runs=200, **simulation) -> float:
    rng = np.random.default_rng(7)
    found = 0
    for k in range(runs):
        labels, keys, a, b = _two_variants(rng, **simulation)
        found += compare.paired_auc_difference(labels, keys, a, b, samples=200,
                                               seed=k).p_value < 0.05
    return found / runs


def test_false_positives_of_two_variants_from_one_distribution_stay_below_8_in_100():
    assert _rejections(videos=10) <= 0.08  # 5 real and 5 fake videos
    assert _rejections(videos=20) <= 0.08
    assert _rejections(videos=10, seeds=3, seed_sd=0.3) <= 0.08


def test_a_clear_difference_is_found_8_times_in_10():
    """Frame AUC 0.92 against 0.68 on 10 real and 10 fake videos (on 5 and 5 the same gap
    is found about 5 times in 10: so few videos cannot tell more)."""
    assert _rejections(runs=100, videos=20, shift_a=3.0) >= 0.8
    assert _rejections(runs=100, videos=20, shift_a=3.0, seeds=3, seed_sd=0.3) >= 0.8


def test_the_difference_is_the_difference_of_the_mean_aucs_and_seeded():
    from sklearn.metrics import roc_auc_score
    labels, keys, a, b = _two_variants(np.random.default_rng(3), videos=12, shift_a=2.0,
                                       seeds=2)
    found = compare.paired_auc_difference(labels, keys, a, b, samples=200, seed=1)
    expected = (np.mean([roc_auc_score(labels, s) for s in a])
                - np.mean([roc_auc_score(labels, s) for s in b]))
    assert math.isclose(found.difference, expected, rel_tol=1e-9)
    assert found.low < found.difference < found.high
    assert (found.real_videos, found.fake_videos, found.seeds_a, found.seeds_b) == (6, 6, 2, 2)
    assert found == compare.paired_auc_difference(labels, keys, a, b, samples=200, seed=1)


def test_too_few_videos_give_no_test_and_say_so():
    labels, keys, a, b = _two_variants(np.random.default_rng(3), videos=4)
    found = compare.paired_auc_difference(labels, keys, a, b, samples=100)
    assert math.isnan(found.p_value) and not math.isnan(found.difference)
    table = compare.with_verdicts([{"augment": "hf", **found.as_dict()}])
    assert table["verdict"].tolist() == [compare.TOO_FEW]


def test_holm_on_a_worked_example():
    # sorted p: 0.01 (x4), 0.02 (x3), 0.03 (x2), 0.2 (x1), made monotone; NaN untouched
    adjusted = compare.holm([0.03, 0.01, float("nan"), 0.2, 0.02])
    assert np.allclose(adjusted, [0.06, 0.04, np.nan, 0.2, 0.06], equal_nan=True)
    table = compare.with_verdicts([
        {"difference": 0.1, "p_value": 0.001}, {"difference": -0.1, "p_value": 0.002},
        {"difference": 0.3, "p_value": 0.06}])
    assert table["verdict"].tolist() == [compare.BETTER, compare.WORSE, compare.TIED]


def test_predictions_are_aligned_on_the_faces_every_run_scored():
    a = pd.DataFrame({"key": ["v1", "v1", "v2"], "frame": [0, 1, 0], "label": [1, 1, 0],
                      "logit": [1.0, 2.0, 3.0]})
    b = a.iloc[[2, 0]].assign(logit=[30.0, 10.0])  # another order, one face fewer
    labels, keys, left, right = compare.aligned([a], [b])
    assert labels.tolist() == [1, 0] and keys.tolist() == ["v1", "v2"]
    assert left.tolist() == [[1.0, 3.0]] and right.tolist() == [[10.0, 30.0]]


# --- the compare stage: real trainings, real evaluations, a real store ----------------------
def test_compare_scores_two_models_once_and_reuses_their_evaluations(faces_ff, capsys):
    """Two trainings of the FF++ test faces compared on them: one row, logged with its
    plot; a second comparison scores nothing again; the variant picked by tags is the same
    training as its run id; one model alone is refused before any run exists."""
    import mlflow

    from deepfake_mlflow.cli import main
    from deepfake_mlflow.stages.train import run as run_train
    from helpers import tiny
    first = run_train(tiny(faces_ff)).run_id
    second = run_train(tiny(faces_ff, seed=1, max_iters=6)).run_id
    test = f"ff={faces_ff}"
    assert main(["compare", f"{first},{second}", test]) == 0
    out = capsys.readouterr().out
    assert f"frame AUC difference against {first}" in out and "test videos (real/fake)" in out
    (run,) = mlflow.search_runs(experiment_names=["deepfake-compare"], output_format="list",
                                filter_string="tags.stage = 'compare'")
    table = pd.read_csv(mlflow.artifacts.download_artifacts(run_id=run.info.run_id,
                                                            artifact_path="comparison.csv"))
    assert list(table[["model", "reference", "test_set"]].itertuples(index=False, name=None)) \
        == [(second, first, "ff")]
    assert table["verdict"].iloc[0] in (compare.BETTER, compare.WORSE, compare.TIED,
                                        compare.TOO_FEW)
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id)}
    assert {"comparison.csv", "comparison.png", "comparison.pdf"} <= artifacts
    # paired errors: the videos one gets right and the other wrong, checked against their
    # own video scores, on a page with both models' maps
    page = Path(mlflow.artifacts.download_artifacts(
        run_id=run.info.run_id, artifact_path=f"paired_errors/{second}/ff"))
    listed = pd.read_csv(page / "videos.csv")
    scores = {r.data.tags["train_run_id"]: pd.read_csv(mlflow.artifacts.download_artifacts(
        run_id=r.info.run_id, artifact_path="predictions/ff_videos.csv")).set_index("key")
        for r in mlflow.search_runs(experiment_names=["deepfake-compare"],
                                    filter_string="tags.stage = 'evaluate'",
                                    output_format="list")}
    # right or wrong at each model's threshold picked on its validation videos
    threshold = {m: mlflow.get_run(m).data.metrics["val_threshold_logit"]
                 for m in (first, second)}
    assert "validation videos" in run.data.tags["paired_errors_decided_at"]
    for row in listed.itertuples():
        right = {m: (scores[m].loc[row.key, "logit"] >= threshold[m]) == (row.label == 1)
                 for m in (first, second)}
        assert (right[first], right[second]) == ((False, True) if row.kind == "fixed"
                                                 else (True, False))
    assert run.data.metrics[f"fixed_videos/{second}/ff"] == (listed["kind"] == "fixed").sum()
    html_page = (page / "index.html").read_text()
    assert "Fixed: wrong under" in html_page and "Broken: right under" in html_page
    assert len(list(page.glob("*.jpg"))) == min(len(listed[listed.kind == "fixed"]), 6) + \
        min(len(listed[listed.kind == "broken"]), 6)
    assert run.data.metrics["reused_evaluations"] == 0
    # the difference is that of the two evaluations' own AUCs (the same faces, paired)
    evaluations = mlflow.search_runs(experiment_names=["deepfake-compare"],
                                     filter_string="tags.stage = 'evaluate'",
                                     output_format="list")
    auc = {r.data.tags["train_run_id"]: r.data.metrics["auc_frame/ff"] for r in evaluations}
    assert math.isclose(table["difference"].iloc[0], auc[second] - auc[first], abs_tol=1e-9)

    # again, the first model named by its tags: nothing scored again
    assert main(["compare", f"tags:dataset=ff,seed=0,{second}", test]) == 0
    capsys.readouterr()
    runs = mlflow.search_runs(experiment_names=["deepfake-compare"],
                              filter_string="tags.stage = 'compare'", output_format="list")
    assert len(runs) == 2 and runs[0].data.metrics["reused_evaluations"] == 2
    again = pd.read_csv(mlflow.artifacts.download_artifacts(run_id=runs[0].info.run_id,
                                                            artifact_path="comparison.csv"))
    assert math.isclose(again["difference"].iloc[0], table["difference"].iloc[0])

    assert main(["compare", first, test]) == 2
    assert "expected two or more models" in capsys.readouterr().err
    # a variant pools seeds, not trainings of other options (these differ in max_iters)
    assert main(["compare", f"tags:dataset=ff,{second}", test]) == 2
    assert "differ in more than their seed (max_iters: 4, 6" in capsys.readouterr().err
    assert len(mlflow.search_runs(experiment_names=["deepfake-compare"],
                                  output_format="list")) == 4  # 2 comparisons, 2 evaluations


# --- a claim's verdict, by simulation -----------------------------------------------------
def _claim_verdicts(shift_a: float, shift_b: float, direction: str = "better", studies=200,
                    comparisons=3, videos=16) -> dict:
    """How often each verdict is called on `studies` simulated studies of one claim, each
    `comparisons` paired comparisons (test sets) of 8 real and 8 fake videos, as the demo's
    test sets hold."""
    rng = np.random.default_rng(11)
    found: dict[str, int] = {}
    for k in range(studies):
        rows = []
        for c in range(comparisons):
            labels, keys, a, b = _two_variants(rng, videos=videos, frames=8, shift_a=shift_a,
                                               shift_b=shift_b)
            rows.append(compare.paired_auc_difference(labels, keys, a, b, samples=200,
                                                      seed=k * comparisons + c).as_dict())
        verdict, _ = compare.claim_verdict(pd.DataFrame(rows), direction)
        found[verdict] = found.get(verdict, 0) + 1
    return {v: n / studies for v, n in found.items()}


def test_a_claim_with_a_planted_effect_is_supported_and_its_reverse_contradicted():
    """Frame AUC about 0.92 against 0.68 on each of three test sets: the claim that A is
    better is supported in at least 8 studies of 10; the same effect reversed contradicts
    it as often, and is never called support."""
    planted = _claim_verdicts(3.0, 1.0)
    assert planted.get(compare.SUPPORTED, 0) >= 0.8
    reversed_ = _claim_verdicts(1.0, 3.0)
    assert reversed_.get(compare.CONTRADICTED, 0) >= 0.8
    assert reversed_.get(compare.SUPPORTED, 0) == 0


def test_a_claim_without_an_effect_is_rarely_called_either_way():
    """No difference: supported or contradicted in at most 5 studies of 100 (Holm within
    the claim holds the family-wise error of its three comparisons)."""
    null = _claim_verdicts(1.0, 1.0)
    assert null.get(compare.SUPPORTED, 0) + null.get(compare.CONTRADICTED, 0) <= 0.05


def test_a_claim_of_no_difference_is_an_equivalence_test():
    rows = pd.DataFrame({"difference": [0.01, -0.02], "low": [-0.03, -0.04],
                         "high": [0.04, 0.01], "p_value": [0.6, 0.3]})
    assert compare.claim_verdict(rows, "same")[0] == compare.SUPPORTED
    wide = rows.assign(low=[-0.2, -0.04])  # one interval reaches past the margin
    assert compare.claim_verdict(wide, "same")[0] == compare.UNDECIDED
    apart = rows.assign(difference=[0.2, 0.0], low=[0.12, -0.04], high=[0.28, 0.01])
    assert compare.claim_verdict(apart, "same")[0] == compare.CONTRADICTED
    few = rows.assign(p_value=[np.nan, np.nan], low=np.nan, high=np.nan)
    verdict, why = compare.claim_verdict(few, "better")
    assert verdict == compare.UNTESTABLE and "fewer than 3 test videos" in why


def test_an_interval_never_reaches_past_the_range_of_a_difference():
    """Two seeds each and 3 videos of a class: a t interval on 1-2 degrees of freedom is
    wide; it is held within [-1, 1], and the p-value is the test's own."""
    rng = np.random.default_rng(5)
    widest = 0.0
    for k in range(20):
        labels, keys, a, b = _two_variants(rng, videos=6, frames=4, shift_a=2.0, seeds=2,
                                           seed_sd=1.5)
        found = compare.paired_auc_difference(labels, keys, a, b, samples=200, seed=k)
        assert -1.0 <= found.low <= found.difference <= found.high <= 1.0
        assert 0.0 <= found.p_value <= 1.0
        widest = max(widest, found.high - found.low)
    assert widest > 1.0  # wide intervals were there to bound
