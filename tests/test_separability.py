"""Claim 7's number: a video-aware silhouette of real and fake features, with its interval."""

from __future__ import annotations

import numpy as np
import pytest

from deepfake_mlflow.evaluation import separability


def features(rng, videos: int, faces: int, shift: float, spread: float = 1.0,
             video_spread: float = 1.0, dims: int = 16) -> tuple[dict, dict]:
    """videos real and videos fake, each video a centre drawn around its class's centre
    (fakes `shift` away on every axis) and its faces close around it."""
    found, labels = {}, {}
    for label in (0, 1):
        for v in range(videos):
            centre = label * shift + rng.normal(0, video_spread, dims)
            key = f"{'real' if label == 0 else 'fake'}{v:02d}"
            found[key] = centre + rng.normal(0, 0.1 * spread, (faces, dims))
            labels[key] = label
    return found, labels


def measured(rng, videos, faces, shift, **kw) -> separability.FaceDistances:
    return separability.FaceDistances.of(*features(rng, videos, faces, shift, **kw))


def test_classes_far_apart_score_near_one_and_mixed_classes_near_zero():
    rng = np.random.default_rng(0)
    far = separability.separability(measured(rng, 10, 8, shift=20.0), samples=300)
    near = separability.separability(measured(rng, 10, 8, shift=0.0), samples=300)
    assert far.difference > 0.8 and far.low <= far.difference <= far.high <= 1.0
    assert abs(near.difference) < 0.1 and near.low < 0 < near.high
    assert (far.real_videos, far.fake_videos) == (10, 10)


def test_a_videos_own_faces_do_not_count_as_its_class():
    """Faces of one video are near copies: counted as the class's, a model whose videos
    lie anywhere would look well separated. Left out, mixed classes stay near zero."""
    rng = np.random.default_rng(1)
    found = measured(rng, 8, 16, shift=0.0, spread=0.01)
    assert abs(separability.separability(found, samples=200).difference) < 0.1


def test_the_paired_difference_finds_the_better_separated_model_on_the_same_videos(tmp_path):
    rng = np.random.default_rng(2)
    feats, labels = features(rng, 10, 6, shift=3.0)
    blurred = {k: v + rng.normal(0, 3.0, v.shape) for k, v in feats.items()}  # B: overlap
    a = separability.FaceDistances.of(feats, labels)
    b = separability.FaceDistances.of(blurred, labels)
    b = separability.FaceDistances.load(b.save(tmp_path / "b.npz"))  # as a claim reads it
    found = separability.paired_separability_difference([a], [b], samples=300)
    assert found.difference > 0 and found.low > 0 and found.p_value < 0.05
    same = separability.paired_separability_difference([a], [a], samples=300)
    assert same.difference == 0 and same.p_value == 1.0


def test_only_the_faces_both_models_measured_are_compared():
    rng = np.random.default_rng(5)
    feats, labels = features(rng, 6, 4, shift=2.0)
    fewer = {k: v for k, v in feats.items() if k != "fake00"}
    found = separability.paired_separability_difference(
        [separability.FaceDistances.of(feats, labels)],
        [separability.FaceDistances.of(fewer, {k: labels[k] for k in fewer})], samples=100)
    assert (found.real_videos, found.fake_videos) == (6, 5)
    assert found.difference == 0  # the same features on the same faces


def test_one_video_of_a_class_gives_no_value_and_no_interval():
    rng = np.random.default_rng(3)
    found = separability.separability(measured(rng, 1, 4, shift=5.0), samples=100)
    assert np.isnan(found.difference) and np.isnan(found.low) and np.isnan(found.p_value)


@pytest.mark.parametrize("shift", [0.0, 1.0])
def test_the_interval_covers_the_value_of_a_large_test_set_often_enough(shift):
    """Coverage by simulation: the 95% interval of a test set of 10 + 10 videos holds the
    separability of a large test set drawn the same way in at least 88 of 100 tries."""
    rng = np.random.default_rng(4)
    truth = separability.separability(measured(rng, 150, 2, shift=shift), samples=0)
    hits = 0
    for _ in range(100):
        found = separability.separability(measured(rng, 10, 4, shift=shift), samples=200,
                                          seed=int(rng.integers(1 << 30)))
        hits += found.low <= truth.difference <= found.high
    assert hits >= 88, hits
