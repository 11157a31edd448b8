"""Evaluation arithmetic on known inputs: metrics against scikit-learn, EER, video
aggregation, degradations and the matrix layout."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from deepfake_mlflow.evaluation import degrade, matrix
from deepfake_mlflow.evaluation.metrics import (binary_metrics, equal_error_rate,
                                                frame_and_video_metrics, video_scores)


def test_metrics_match_scikit_learn():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 200)
    logits = rng.normal(labels * 1.2, 1.0)
    found = binary_metrics(labels, logits)
    p = 1 / (1 + np.exp(-logits))
    assert found["auc"] == pytest.approx(skm.roc_auc_score(labels, p))
    assert found["ap"] == pytest.approx(skm.average_precision_score(labels, p))
    assert found["log_loss"] == pytest.approx(skm.log_loss(labels, p))
    assert found["balanced_accuracy"] == pytest.approx(
        skm.balanced_accuracy_score(labels, p >= 0.5))


def test_equal_error_rate_on_known_cases():
    # perfectly separated: no error at the right threshold
    assert equal_error_rate([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 0.0
    # perfectly inverted: every threshold errs on one side or the other
    assert equal_error_rate([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1]) == pytest.approx(1.0)
    # 4 real, 4 fake, one of each on the wrong side: FPR = FNR = 1/4
    labels = [0, 0, 0, 0, 1, 1, 1, 1]
    scores = [0.1, 0.2, 0.3, 0.7, 0.35, 0.8, 0.85, 0.9]
    assert equal_error_rate(labels, scores) == pytest.approx(0.25)


def test_single_class_gives_nan_not_an_exception():
    assert all(math.isnan(v) for v in binary_metrics([1, 1, 1], [0.1, 0.3, 2.0]).values())


def test_ff_style_duplicate_names_never_merge_into_one_video():
    # 000_003 exists under two methods: two fake videos, plus one real video
    frames = pd.DataFrame({
        "key": ["ff/Deepfakes/000_003"] * 2 + ["ff/Face2Face/000_003"] * 2 + ["ff/youtube/000"] * 2,
        "label": [1, 1, 1, 1, 0, 0],
        "logit": [2.0, 4.0, -1.0, -3.0, 0.0, 1.0]})
    videos = video_scores(frames).set_index("key")
    assert len(videos) == 3
    assert videos.loc["ff/Deepfakes/000_003", "logit"] == pytest.approx(3.0)  # mean logit
    assert videos.loc["ff/Face2Face/000_003", "logit"] == pytest.approx(-2.0)
    assert videos.loc["ff/Deepfakes/000_003", "p_fake"] == pytest.approx(1 / (1 + math.exp(-3)))
    found = frame_and_video_metrics(frames)
    assert found["videos"] == 3 and found["faces"] == 6 and found["fake_videos"] == 2
    assert found["auc_video"] == pytest.approx(0.5)  # 3.0 > 0.5 > -2.0


def test_a_key_with_both_labels_is_an_error():
    frames = pd.DataFrame({"key": ["a", "a"], "label": [0, 1], "logit": [0.0, 1.0]})
    with pytest.raises(ValueError, match="both labels"):
        video_scores(frames)


def test_degradations_keep_shape_and_lose_detail():
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 255, (3, 64, 64, 3), dtype=np.uint8)
    for point, apply in degrade.sweep(qualities=(90, 10), factors=(0.5, 0.25)).items():
        out = apply(crops)
        assert out.shape == crops.shape and out.dtype == np.uint8, point
    error = {q: np.abs(degrade.jpeg(q)(crops).astype(int) - crops).mean() for q in (90, 10)}
    assert error[10] > error[90] > 0
    blur = {f: np.abs(degrade.downscale(f)(crops).astype(int) - crops).mean() for f in (0.5, 0.25)}
    assert blur[0.25] > blur[0.5] > 0


def test_matrix_pivots_one_table_per_variant_with_the_papers_names():
    rows = [{"train_dataset": tr, "loss": loss, "augment": "none", "test_set": te,
             "auc_frame": 0.5 + 0.1 * (tr == te), "auc_video": 0.5, "train_run_id": "",
             "model_id": ""}
            for loss in ("bce", "triplet") for tr in ("ff", "dfd") for te in ("dfd", "ff")]
    grids = matrix.pivots(pd.DataFrame(rows))
    assert set(grids) == {("bce", "none"), ("triplet", "none")}
    grid = grids[("bce", "none")]
    assert list(grid.index) == list(grid.columns)  # train and test in the same order
    assert np.allclose(np.diag(grid.to_numpy()), 0.6)
    assert matrix.title("bce", "none").startswith("Table I ")
    assert matrix.title("triplet", matrix.SELECTED).startswith("Table IV ")


def test_weighted_auc_equals_sklearn_with_sample_weights():
    from sklearn.metrics import roc_auc_score

    from deepfake_mlflow.evaluation.metrics import weighted_auc
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 6, 400).astype(float)  # many ties
    labels = rng.integers(0, 2, 400)
    weights = rng.integers(0, 4, (5, 400))
    assert np.allclose(weighted_auc(scores, labels, weights),
                       [roc_auc_score(labels, scores, sample_weight=w) for w in weights])


def _simulated_test_set(rng, videos=10, frames=32, shift=1.0):
    """Real and fake videos (half each), each with its own level (N(0 or shift, 1)) and 32
    frames around it (N(level, 1)): frames of a video are correlated, as real faces are."""
    video_labels = np.arange(videos) % 2
    levels = rng.normal(shift * video_labels, 1.0)
    logits = (levels[:, None] + rng.normal(0.0, 1.0, (videos, frames))).ravel()
    keys = np.repeat([f"v{i}" for i in range(videos)], frames)
    return pd.DataFrame({"key": keys, "label": np.repeat(video_labels, frames),
                         "logit": logits})


def test_the_interval_covers_the_true_auc_about_95_times_in_100():
    """200 simulated test sets of 10 videos x 32 correlated frames with a known frame AUC:
    the interval over videos covers it in 90-98% of them. An interval over frames (each
    frame drawn alone) would cover it far less often: the frames of a video are not
    independent."""
    from scipy.stats import norm

    from deepfake_mlflow.evaluation.metrics import auc_interval
    shift = 1.0
    truth = norm.cdf(shift / np.sqrt(2 * (1 + 1)))  # P(fake frame > real frame)
    rng = np.random.default_rng(0)
    covered = covered_by_frames = 0
    for k in range(200):
        frames = _simulated_test_set(rng, shift=shift)
        low, high = auc_interval(frames["label"], frames["logit"], frames["key"],
                                 samples=1000, seed=k)
        covered += low <= truth <= high
        low, high = auc_interval(frames["label"], frames["logit"], np.arange(len(frames)),
                                 samples=1000, seed=k)
        covered_by_frames += low <= truth <= high
    assert 0.90 <= covered / 200 <= 0.98
    assert covered_by_frames / 200 < 0.75


def test_every_auc_has_its_interval_and_it_is_seeded():
    frames = _simulated_test_set(np.random.default_rng(1), videos=12)
    a = frame_and_video_metrics(frames, samples=300, seed=5)
    b = frame_and_video_metrics(frames, samples=300, seed=5)
    assert a == b
    for level in ("frame", "video"):
        assert a[f"auc_{level}_low"] <= a[f"auc_{level}"] <= a[f"auc_{level}_high"]
    assert "auc_frame_low" not in frame_and_video_metrics(frames, samples=0)
    one_real = frames[(frames["label"] == 1) | (frames["key"] == "v0")]
    assert math.isnan(frame_and_video_metrics(one_real, samples=100)["auc_frame_low"])


def test_a_variant_of_several_seeds_is_their_mean_with_its_spread():
    """As the matrix is read back from its CSV too (seeds as integers)."""
    row = {"train_dataset": "ff", "loss": "bce", "augment": "none", "test_set": "dfd",
           "auc_video": 0.5, "auc_frame_low": 0.1, "auc_frame_high": 0.9,
           "auc_video_low": 0.1, "auc_video_high": 0.9, "test_videos": 10,
           "model_id": "m", "eval_run_id": "e"}
    table = pd.DataFrame([{**row, "seed": 0, "auc_frame": 0.6, "train_run_id": "a"},
                          {**row, "seed": 1, "auc_frame": 0.8, "train_run_id": "b"},
                          {**row, "test_set": "ff", "seed": 0, "auc_frame": 0.9,
                           "train_run_id": "a"}], columns=matrix.COLUMNS)
    out = matrix.over_seeds(table).set_index("test_set")
    assert out.loc["dfd", "auc_frame"] == pytest.approx(0.7)
    assert out.loc["dfd", "auc_frame_sd"] == pytest.approx(np.std([0.6, 0.8], ddof=1))
    assert out.loc["dfd", "seeds"] == 2 and out.loc["dfd", "train_run_id"] == ""
    assert math.isnan(out.loc["dfd", "auc_frame_low"])  # each seed's is in its own run
    assert out.loc["ff", "auc_frame_low"] == 0.1 and out.loc["ff", "train_run_id"] == "a"
    assert matrix.cells(out.reset_index()).tolist() == ["0.700\u00b10.14", "0.900 [0.10, 0.90]"]



# --- calibration: temperature, threshold, error rates at it (evaluation/calibration.py) ---
def _logistic_videos(n: int, temperature: float, seed: int):
    """Video logits z whose true P(fake | z) is sigmoid(z / temperature): labels drawn from
    that probability, so the right temperature is known."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 3.0 * temperature, n)
    labels = (rng.random(n) < 1 / (1 + np.exp(-z / temperature))).astype(int)
    return labels, z


def test_temperature_scaling_recovers_a_known_temperature_and_keeps_the_ranking():
    from deepfake_mlflow.evaluation import breakdown, calibration
    labels, z = _logistic_videos(4000, 2.5, seed=0)
    fitted = calibration.fit(labels, z)
    assert fitted.temperature == pytest.approx(2.5, rel=0.1)
    assert fitted.warning == "" and fitted.real_videos + fitted.fake_videos == 4000
    p_raw, p_cal = 1 / (1 + np.exp(-z)), fitted.p_fake(z)
    assert skm.roc_auc_score(labels, p_cal) == pytest.approx(skm.roc_auc_score(labels, p_raw))
    # over-confident scores (T = 2.5 read as 1) calibrate: the ECE falls to sampling noise
    assert breakdown.expected_calibration_error(labels, p_raw) > 0.08
    assert breakdown.expected_calibration_error(labels, p_cal) < 0.03


def test_the_validation_threshold_maximises_balanced_accuracy():
    from deepfake_mlflow.evaluation import calibration
    rng = np.random.default_rng(1)
    for _ in range(20):
        labels = rng.integers(0, 2, 30)
        labels[:2] = [0, 1]
        z = np.round(rng.normal(labels * 1.5, 1.0), 1)  # rounded: ties between videos
        threshold = calibration.pick_threshold(labels, z)
        assert not np.any(np.isclose(z, threshold))  # halfway between two scores
        best = max(skm.balanced_accuracy_score(labels, z >= t) for t in np.r_[z, z.max() + 1])
        assert skm.balanced_accuracy_score(labels, z >= threshold) == pytest.approx(best)


def test_error_rates_at_the_threshold_count_the_videos_and_carry_intervals():
    from deepfake_mlflow.evaluation import calibration
    fitted = calibration.Calibration(temperature=2.0, threshold=0.5, real_videos=10,
                                     fake_videos=10, val_auc_video=0.9)
    labels = np.array([0] * 8 + [1] * 8)
    z = np.array([-2, -1, 0, 0.4, 0.5, 0.6, 1, -3, 2, 3, 0.5, 0.49, -1, 4, 5, 6.0])
    found = calibration.at_threshold(labels, z, fitted, samples=200, seed=0)
    assert found["fpr_at_val_threshold_video"] == pytest.approx(3 / 8)  # 0.5, 0.6, 1
    assert found["fnr_at_val_threshold_video"] == pytest.approx(2 / 8)  # 0.49, -1
    assert found["balanced_accuracy_at_val_threshold_video"] == pytest.approx(1 - 5 / 16)
    for name in ("fpr", "fnr", "balanced_accuracy"):
        key = f"{name}_at_val_threshold_video"
        assert found[f"{key}_low"] <= found[key] <= found[f"{key}_high"]
    assert found == calibration.at_threshold(labels, z, fitted, samples=200, seed=0)
    # two videos of a class: rates, no intervals
    few = calibration.at_threshold([0, 0, 1, 1], [-1, 1, 1, 2], fitted, samples=200)
    assert few["fpr_at_val_threshold_video"] == 0.5 and "fpr_at_val_threshold_video_low" \
        not in few


def test_a_perfectly_separated_validation_set_says_its_calibration_is_not_to_be_trusted():
    from deepfake_mlflow.evaluation import calibration
    fitted = calibration.fit([0, 0, 0, 1, 1, 1], [-3.0, -2, -1, 1, 2, 3])
    assert -1 < fitted.threshold < 1 and "perfectly separated" in fitted.warning
    assert "perfectly separated" in fitted.describe()
    assert calibration.Calibration.from_dict(fitted.as_dict()) == fitted
    with pytest.raises(ValueError, match="real and fake"):
        calibration.fit([1, 1], [0.2, 0.3])


def test_the_ece_interval_is_drawn_within_each_class_and_equals_a_loop_of_draws():
    from deepfake_mlflow.evaluation import breakdown
    rng = np.random.default_rng(3)
    real_p, fake_p = rng.random(7), rng.random(9)
    drawn = breakdown.resampled_ece(real_p, fake_p, 5, np.random.default_rng(1))
    again = np.random.default_rng(1)
    real_rows, fake_rows = again.choice(real_p, (5, 7)), again.choice(fake_p, (5, 9))
    looped = [breakdown.expected_calibration_error(np.r_[np.zeros(7), np.ones(9)],
                                                   np.r_[real_rows[i], fake_rows[i]])
              for i in range(5)]
    assert drawn == pytest.approx(looped)
