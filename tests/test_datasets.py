"""Each adapter on a small tree in its real on-disk layout, with real (tiny) video files."""

from __future__ import annotations

import json

import pytest

from deepfake_mlflow import config, datasets
from deepfake_mlflow.datasets import celebdf, schema
from deepfake_mlflow.errors import LayoutError, MalformedFileError

FF_METHODS = config.FF_METHODS


def make_ff(root, place, n_pairs=10):
    ids = [f"{i:03d}" for i in range(2 * n_pairs)]
    place(root, *[f"original_sequences/youtube/c23/videos/{i}.mp4" for i in ids])
    for a, b in zip(ids[0::2], ids[1::2]):
        for m in FF_METHODS:
            place(root, f"manipulated_sequences/{m}/c23/videos/{a}_{b}.mp4",
                  f"manipulated_sequences/{m}/c23/videos/{b}_{a}.mp4")
    return ids


def assert_no_group_leaks(frame):
    assert (frame.groupby("group")["split"].nunique() == 1).all()


def test_ff_pairs_stay_together_and_keys_keep_the_method(tmp_path, place):
    make_ff(tmp_path, place, n_pairs=50)  # 100 originals: 72/14/14, FF++'s 720/140/140
    frame = datasets.build_index("ff", tmp_path, seed=0).frame
    assert len(frame) == 100 + 100 * 4
    # the same file name in four method folders gives four keys
    same_name = frame[frame["path"].str.endswith("/000_001.mp4")]
    assert len(same_name) == 4 and same_name["key"].nunique() == 4
    assert_no_group_leaks(frame)
    originals = frame[frame["label"] == 0]
    assert originals["split"].value_counts().to_dict() == {"train": 72, "val": 14, "test": 14}
    fake = frame[frame["key"] == "ff/Deepfakes/001_000"].iloc[0]
    assert fake["source"] == "ff/youtube/001"
    assert fake["split"] == frame.loc[frame["key"] == "ff/youtube/000", "split"].item()


def test_ff_method_folders_it_does_not_index_are_named(tmp_path, place):
    make_ff(tmp_path, place, n_pairs=3)
    place(tmp_path, "manipulated_sequences/FaceShifter/c23/videos/000_001.mp4")
    result = datasets.build_index("ff", tmp_path, seed=0)
    assert "FaceShifter" not in set(result.frame["method"])
    assert any("not indexed" in n and "FaceShifter" in n for n in result.notes)


def test_ff_split_is_deterministic_under_the_seed(tmp_path, place):
    make_ff(tmp_path, place, n_pairs=15)
    a = datasets.build_index("ff", tmp_path, seed=1).frame
    b = datasets.build_index("ff", tmp_path, seed=1).frame
    c = datasets.build_index("ff", tmp_path, seed=2).frame
    assert a.equals(b)
    assert not a["split"].equals(c["split"])


def test_ff_official_split_files_are_honoured(tmp_path, place):
    make_ff(tmp_path / "ff", place, n_pairs=3)
    official = tmp_path / "splits"
    official.mkdir()
    for split, pairs in {"train": [["000", "001"]], "val": [["002", "003"]],
                         "test": [["004", "005"]]}.items():
        (official / f"{split}.json").write_text(json.dumps(pairs))
    result = datasets.build_index("ff", tmp_path / "ff", seed=0, official_splits=str(official))
    frame = result.frame
    assert result.split_rule == "official"
    assert frame.set_index("key").loc["ff/FaceSwap/005_004", "split"] == "test"
    assert frame.set_index("key").loc["ff/youtube/002", "split"] == "val"
    assert_no_group_leaks(frame)


def test_ff_official_split_file_errors_name_the_file(tmp_path, place):
    make_ff(tmp_path / "ff", place, n_pairs=3)
    official = tmp_path / "splits"
    official.mkdir()
    (official / "train.json").write_text('[["000", "001"]')
    (official / "val.json").write_text("[]")
    (official / "test.json").write_text("[]")
    with pytest.raises(MalformedFileError, match="train.json"):
        datasets.build_index("ff", tmp_path / "ff", 0, official_splits=str(official))
    (official / "train.json").write_text('[["000", 1]]')
    with pytest.raises(MalformedFileError, match="id pair"):
        datasets.build_index("ff", tmp_path / "ff", 0, official_splits=str(official))


def test_ff_rejects_fake_names_it_cannot_pair(tmp_path, place):
    make_ff(tmp_path, place, n_pairs=2)
    place(tmp_path, "manipulated_sequences/Deepfakes/c23/videos/oops.mp4")
    with pytest.raises(MalformedFileError, match="oops.mp4.*<target>_<source>"):
        datasets.build_index("ff", tmp_path, 0)


def test_dfd_keeps_each_actor_in_one_split(tmp_path, place):
    scenes = ["exit_phone_room", "hugging_happy", "kitchen_pan"]
    for actor in range(1, 11):
        for scene in scenes:
            place(tmp_path, f"original_sequences/actors/c23/videos/{actor:02d}__{scene}.mp4")
            other = actor % 10 + 1
            place(tmp_path, f"manipulated_sequences/DeepFakeDetection/c23/videos/"
                            f"{actor:02d}_{other:02d}__{scene}__ABCD1234.mp4")
    frame = datasets.build_index("dfd", tmp_path, seed=0).frame
    frame["actor"] = frame["path"].str.extract(r"/(\d+)_")[0]
    assert (frame.groupby("actor")["split"].nunique() == 1).all()
    assert set(frame["split"]) == set(config.SPLITS)
    fake = frame[frame["label"] == 1].iloc[0]
    assert fake["source"].startswith("dfd/actors/") and fake["source"] in set(frame["key"])


def test_dfd_split_shares_set_how_many_actors_each_split_gets(tmp_path, place):
    """--split-shares 3:1:3 (the demo's): of 7 actors, 3 to test; a bad value is refused
    with one line naming what it expects."""
    for actor in range(1, 8):
        place(tmp_path, f"original_sequences/actors/c23/videos/{actor:02d}__kitchen_pan.mp4",
              f"manipulated_sequences/DeepFakeDetection/c23/videos/"
              f"{actor:02d}_{actor:02d}__kitchen_pan__ABCD1234.mp4")
    frame = datasets.build_index("dfd", tmp_path, seed=0, split_shares="3:1:3").frame
    actors = frame.groupby("split")["group"].nunique().to_dict()
    assert actors == {"train": 3, "val": 1, "test": 3}
    default = datasets.build_index("dfd", tmp_path, seed=0).frame  # 720:140:140
    assert default.groupby("split")["group"].nunique().to_dict() == \
        {"train": 5, "val": 1, "test": 1}
    from deepfake_mlflow.errors import UserInputError
    for bad in ("3:1", "a:b:c", "3:1:0", "-1:1:1"):
        with pytest.raises(UserInputError, match="expected train:val:test weights"):
            datasets.build_index("dfd", tmp_path, seed=0, split_shares=bad)


def _dfdc_part(root, place, part, names_labels, extra_listed=()):
    meta = {}
    for name, label in names_labels:
        place(root, f"dfdc_train_part_{part}/{name}")
        meta[name] = {"label": label, "split": "train"}
        if label == "FAKE":
            meta[name]["original"] = names_labels[0][0]
    for name in extra_listed:
        meta[name] = {"label": "REAL", "split": "train"}
    (root / f"dfdc_train_part_{part}" / "metadata.json").write_text(json.dumps(meta))


def test_dfdc_parts_decide_the_split_and_gaps_are_reported(tmp_path, place):
    for part in (0, 36, 41):
        _dfdc_part(tmp_path, place, part, [(f"r{part}.mp4", "REAL"), (f"f{part}.mp4", "FAKE")],
                   extra_listed=[f"gone{part}.mp4"] if part == 0 else ())
    result = datasets.build_index("dfdc", tmp_path, seed=0)
    frame = result.frame.set_index("key")
    assert frame.loc["dfdc/dfdc_train_part_0/r0", "split"] == "train"
    assert frame.loc["dfdc/dfdc_train_part_36/f36", "split"] == "val"
    assert frame.loc["dfdc/dfdc_train_part_41/f41", "split"] == "test"
    assert frame.loc["dfdc/dfdc_train_part_41/f41", "source"] == "dfdc/dfdc_train_part_41/r41"
    assert frame.loc["dfdc/dfdc_train_part_0/gone0", "status"] == "missing"
    assert any("47 of 50 parts missing" in n for n in result.notes)
    assert any("1 videos missing" in n for n in result.notes)


def test_dfdc_a_fakes_original_in_a_part_not_downloaded_is_kept_by_name(tmp_path, place):
    """DFDC's metadata names each fake's original; when that original's part is not on
    disk, the fake still records it (by file name) and the index says how many."""
    place(tmp_path, "dfdc_train_part_2/f.mp4")
    (tmp_path / "dfdc_train_part_2" / "metadata.json").write_text(json.dumps(
        {"f.mp4": {"label": "FAKE", "split": "train", "original": "elsewhere.mp4"}}))
    result = datasets.build_index("dfdc", tmp_path, seed=0)
    assert result.frame.set_index("key").loc["dfdc/dfdc_train_part_2/f", "source"] == \
        "elsewhere.mp4"
    assert any("1 fakes name an original that is not in the indexed parts" in n
               for n in result.notes)


def test_dfdc_malformed_metadata_names_file_and_line(tmp_path, place):
    place(tmp_path, "dfdc_train_part_3/a.mp4")
    (tmp_path / "dfdc_train_part_3" / "metadata.json").write_text('{\n "a.mp4": {"label": "REAL"},\n}')
    with pytest.raises(MalformedFileError, match=r"metadata.json:3"):
        datasets.build_index("dfdc", tmp_path, 0)
    (tmp_path / "dfdc_train_part_3" / "metadata.json").write_text('{"a.mp4": {"label": "maybe"}}')
    with pytest.raises(MalformedFileError, match="no label REAL or FAKE"):
        datasets.build_index("dfdc", tmp_path, 0)


def make_celebdf(root, place, n=12):
    for k in range(n):
        place(root, f"Celeb-real/id{k}_0000.mp4", f"Celeb-synthesis/id{k}_id{(k + 1) % n}_0000.mp4",
              f"YouTube-real/{k:05d}.mp4")
    lines = ["1 Celeb-real/id0_0000.mp4", "0 Celeb-synthesis/id0_id1_0000.mp4",
             "1 YouTube-real/00000.mp4", "1 YouTube-real/00099.mp4"]  # the last is not on disk
    (root / "List_of_testing_videos.txt").write_text("\n".join(lines) + "\n")


def test_celebdf_test_list_marks_real_with_1(tmp_path, place):
    make_celebdf(tmp_path, place)
    listed = celebdf.read_test_list(tmp_path / "List_of_testing_videos.txt")
    assert listed["Celeb-real/id0_0000.mp4"] == config.REAL
    assert listed["Celeb-synthesis/id0_id1_0000.mp4"] == config.FAKE
    frame = datasets.build_index("celebdf", tmp_path, seed=0).frame.set_index("key")
    assert frame.loc["celebdf/YouTube-real/00000", "split"] == "test"
    assert frame.loc["celebdf/YouTube-real/00099", "status"] == "missing"
    assert frame.loc["celebdf/Celeb-synthesis/id3_id4_0000", "source"] == "celebdf/Celeb-real/id3_0000"
    rest = frame[frame["split"] != "test"]
    assert 0.10 <= (rest["split"] == "val").mean() <= 0.25
    # a fake and its original never straddle train and val
    fake = frame.loc["celebdf/Celeb-synthesis/id5_id6_0000"]
    assert fake["split"] == frame.loc["celebdf/Celeb-real/id5_0000", "split"]


def test_celebdf_list_errors_name_file_and_line(tmp_path, place):
    make_celebdf(tmp_path, place, n=3)
    listing = tmp_path / "List_of_testing_videos.txt"
    listing.write_text("1 Celeb-real/id0_0000.mp4\n0 Celeb-real/id1_0000.mp4\n")
    with pytest.raises(MalformedFileError, match=r"List_of_testing_videos.txt:2: mark 0 contradicts"):
        datasets.build_index("celebdf", tmp_path, 0)
    listing.write_text("Celeb-real/id0_0000.mp4\n")
    with pytest.raises(MalformedFileError, match=r":1: expected '<1\|0> <folder>/<file>.mp4'"):
        datasets.build_index("celebdf", tmp_path, 0)


def test_folder_layout_seeded_or_from_csv(tmp_path, place):
    for i in range(20):
        place(tmp_path, f"real/r{i}.mp4", f"fake/gan/f{i}.mp4")
    frame = datasets.build_index("folder", tmp_path, seed=0).frame
    for label in (0, 1):
        assert frame[frame["label"] == label]["split"].value_counts().to_dict() == {
            "train": 14, "val": 3, "test": 3}
    assert set(frame.loc[frame["label"] == 1, "method"]) == {"gan"}
    (tmp_path / "splits.csv").write_text("path,split\nreal/r0.mp4,test\nfake/gan/f0.mp4,train\n")
    result = datasets.build_index("folder", tmp_path, 0, split_csv=str(tmp_path / "splits.csv"))
    assert len(result.frame) == 2 and "38 videos" in result.notes[0]
    (tmp_path / "splits.csv").write_text("path,split\nreal/r0.mp4,holdout\n")
    with pytest.raises(MalformedFileError, match=r"splits.csv:2"):
        datasets.build_index("folder", tmp_path, 0, split_csv=str(tmp_path / "splits.csv"))


@pytest.mark.parametrize("name", ["ff", "dfd", "dfdc", "celebdf", "folder"])
def test_wrong_root_names_what_the_layout_expects(tmp_path, name):
    (tmp_path / "something_else").mkdir()
    with pytest.raises(LayoutError) as err:
        datasets.build_index(name, tmp_path, 0)
    assert str(tmp_path) in str(err.value) and "expected" in str(err.value)


def test_probe_records_unreadable_videos_and_keeps_going(tmp_path, place):
    for i in range(4):
        place(tmp_path, f"real/r{i}.mp4", f"fake/f{i}.mp4")
    (tmp_path / "real" / "r1.mp4").write_bytes(b"")
    (tmp_path / "fake" / "f2.mp4").write_bytes(b"this is not a video")
    result = datasets.build_index("folder", tmp_path, 0, probe_videos=True, workers=2)
    frame = result.frame.set_index("key")
    assert frame.loc["folder/real/r1", "reason"] == "empty file (0 bytes)"
    assert frame.loc["folder/fake/f2", "status"] == "unreadable"
    ok = frame[frame["status"] == "ok"]
    assert len(ok) == 6 and (ok["frames"] == 12).all() and (ok["width"] == 64).all()
    assert "2 videos unreadable" in result.notes


def test_index_roundtrips_through_parquet(tmp_path, place):
    make_ff(tmp_path, place, n_pairs=3)
    frame = datasets.build_index("ff", tmp_path, seed=0).frame
    path = schema.save(frame, tmp_path / "out" / "videos.parquet")
    assert schema.load(path).equals(frame)


@pytest.mark.parametrize("seed", range(8))
def test_celebdf_validation_holds_fakes_however_few_videos(tmp_path, place, seed):
    """Two celebrities with three clips (the last listed for test) and four YouTube clips,
    as the demo corpus has them: the validation split holds a fake whatever the seed."""
    for k in range(2):
        for n in range(3):
            place(tmp_path, f"Celeb-real/id{k}_{n:04d}.mp4", f"Celeb-synthesis/id{k}_id{k}_{n:04d}.mp4")
    for n in range(4):
        place(tmp_path, f"YouTube-real/{n:05d}.mp4")
    lines = [f"{m} {p}" for k in range(2) for m, p in
             ((1, f"Celeb-real/id{k}_0002.mp4"), (0, f"Celeb-synthesis/id{k}_id{k}_0002.mp4"))]
    (tmp_path / "List_of_testing_videos.txt").write_text("\n".join(lines) + "\n")
    frame = datasets.build_index("celebdf", tmp_path, seed=seed).frame
    for split in ("train", "val"):
        assert set(frame.loc[frame["split"] == split, "label"]) == {config.REAL, config.FAKE}
