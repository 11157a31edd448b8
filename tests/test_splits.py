from deepfake_mlflow import config
from deepfake_mlflow.datasets import splits


def test_proportional_counts_match_the_paper_at_full_size():
    assert splits.proportional_counts(1000, config.FF_SPLIT_COUNTS) == {
        "train": 720, "val": 140, "test": 140}
    assert splits.proportional_counts(500, config.FF_SPLIT_COUNTS) == {
        "train": 360, "val": 70, "test": 70}


def test_small_counts_populate_every_split():
    for n in range(3, 12):
        counts = splits.proportional_counts(n, config.FF_SPLIT_COUNTS)
        assert sum(counts.values()) == n and min(counts.values()) >= 1


def test_assign_groups_is_deterministic_and_order_free():
    groups = [f"g{i}" for i in range(50)]
    a = splits.assign_groups(groups, config.FOLDER_SPLIT_FRACTIONS, seed=3)
    b = splits.assign_groups(list(reversed(groups)), config.FOLDER_SPLIT_FRACTIONS, seed=3)
    c = splits.assign_groups(groups, config.FOLDER_SPLIT_FRACTIONS, seed=4)
    assert a == b and a != c
    assert sorted(a.values()).count("train") == 35
