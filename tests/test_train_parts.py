"""Training parts on their own: the plateau rule, samplers, the model's shapes."""

import math

import pandas as pd
import pytest
import torch

from deepfake_mlflow.model import create
from deepfake_mlflow.train.data import (BalancedBatches, TripletBatches, training_faces,
                                        validation_items)
from deepfake_mlflow.train.objectives import Finetune
from deepfake_mlflow.train.schedule import Plateau

EFFICIENTNET_B4_FEATURES = 1792  # its pooled features: the triplet loss's space


def test_plateau_drops_lr_after_patience_and_stops_below_min_lr():
    plateau = Plateau(lr=1e-4, patience=3)
    assert plateau.step(1.0, 1)
    assert not plateau.step(1.0, 2) and plateau.lr == 1e-4
    assert not plateau.step(1.1, 4) and math.isclose(plateau.lr, 1e-5)  # 3 without improving
    assert plateau.step(0.5, 5) and plateau.best_iteration == 5
    lrs = []
    for it in range(6, 30):
        plateau.step(0.9, it)
        lrs.append(plateau.lr)
        if plateau.done:
            break
    # 1e-5 -> 1e-6 -> 1e-7 -> 1e-8 (not done: not below) -> 1e-9 (done)
    assert math.isclose(lrs[-1], 1e-9) and plateau.done
    assert any(math.isclose(lr, 1e-8) for lr in lrs)


def test_plateau_at_exactly_min_lr_is_not_done_and_below_is():
    plateau = Plateau(lr=1e-8, patience=1)
    assert not plateau.done  # torch's eps=1e-8 would also block the next step; ours takes it
    plateau.step(1.0, 1)
    plateau.step(1.0, 2)
    assert plateau.lr < 1e-8 and plateau.done


def test_plateau_state_roundtrips():
    a = Plateau(1e-4, 2)
    a.step(1.0, 1); a.step(2.0, 3)
    b = Plateau(1e-4, 2)
    b.load_state_dict(a.state_dict())
    assert b.state_dict() == a.state_dict()


def test_balanced_batches_are_half_real_half_fake_and_depend_on_iteration_only():
    labels = torch.tensor([0] * 3 + [1] * 40, dtype=torch.float32)
    sampler = BalancedBatches(labels, 8, seed=1)
    batch = sampler.batch(5)
    picked = [i for i, _ in batch]
    assert sum(labels[i] == 0 for i in picked) == 4 and sum(labels[i] == 1 for i in picked) == 4
    assert sampler.batch(5) == batch and sampler.batch(6) != batch
    sampler.start = 5
    assert next(iter(sampler)) == batch


def test_triplet_batches_alternate_the_two_kinds():
    labels = torch.tensor([0] * 10 + [1] * 10, dtype=torch.float32)
    picked = [i for i, _ in TripletBatches(labels, 10, seed=0).batch(0)]
    kinds = [tuple(int(labels[i]) for i in picked[k:k + 3]) for k in range(0, 30, 3)]
    assert kinds.count((1, 1, 0)) == 5 and kinds.count((0, 0, 1)) == 5


def test_validation_sample_is_balanced_fixed_and_unaugmented():
    labels = torch.tensor([0] * 30 + [1] * 70, dtype=torch.float32)
    items = validation_items(labels, 40, seed=0)
    assert items == validation_items(labels, 40, seed=0)
    assert sum(labels[i] == 0 for i, _ in items) == 20
    assert len(validation_items(labels, 1000, seed=0)) == 60  # capped by the smaller class


def test_data_limited_subsampling_takes_n_videos_per_class():
    faces = pd.DataFrame({"key": [f"v{i}" for i in range(20) for _ in range(3)],
                          "label": [i % 2 for i in range(20) for _ in range(3)],
                          "split": "train", "face_path": "x.jpg", "video_status": "ok"})
    limited = training_faces(faces, "train", train_videos=4, seed=0)
    assert limited.groupby("label")["key"].nunique().to_dict() == {0: 4, 1: 4}
    assert limited.equals(training_faces(faces, "train", train_videos=4, seed=0))
    # a video with faces in too few frames is never trained on
    faces.loc[faces["key"] == "v0", "video_status"] = "few_faces"
    assert "v0" not in set(training_faces(faces, "train")["key"])


def test_efficientnet_b4_features_are_1792_values():
    model = create("efficientnet_b4", "none").eval()
    with torch.no_grad():
        assert model.features(torch.zeros(2, 3, 64, 64)).shape == (2, EFFICIENTNET_B4_FEATURES)
        assert model(torch.zeros(2, 3, 64, 64)).shape == (2,)
    assert sum(p.numel() for p in model.classifier.parameters()) == 1793


def test_finetune_freezes_the_extractor_in_eval_mode():
    model = create("efficientnet_b4", "none")
    objective = Finetune()
    params = objective.prepare(model)
    assert len(params) == 2  # classifier weight and bias
    bn = next(m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    before = bn.running_mean.clone()
    optimizer = torch.optim.Adam(params, lr=1e-3)
    objective.train_mode(model)
    loss = objective.loss(model, torch.randn(4, 3, 64, 64) * 3 + 1, torch.tensor([0., 1., 0., 1.]))
    loss.backward()
    optimizer.step()
    assert torch.equal(bn.running_mean, before)
    assert all(p.grad is None for p in model.backbone.conv_stem.parameters())


def test_imagenet_weights_offline_fail_at_once_with_a_clear_message(monkeypatch, tmp_path):
    # the Hub is unreachable here: this is the real offline path, not a mock
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # an empty cache
    from deepfake_mlflow.errors import UserInputError
    with pytest.raises(UserInputError, match="ImageNet weights .* pretrained=none"):
        create("efficientnet_b4", "imagenet")


def test_a_local_weights_file_initialises_the_backbone(tmp_path):
    import timm
    from safetensors.torch import save_file
    source = timm.create_model("efficientnet_b4", pretrained=False, num_classes=1000)
    save_file(source.state_dict(), str(tmp_path / "b4.safetensors"))
    model = create("efficientnet_b4", str(tmp_path / "b4.safetensors"))
    assert torch.equal(model.backbone.conv_stem.weight, source.conv_stem.weight)


def test_crop_paths_split_by_arrow_as_pandas_splits_them():
    from deepfake_mlflow.train.data import split_paths
    paths = pd.Series(["ff/a/000001.jpg", "ff/a/000002.jpg", "dfdc/p_1/x/000003.jpg",
                       "ff/a/000009.jpg"])
    codes, folders, names = split_paths(paths)
    assert folders == ["ff/a", "dfdc/p_1/x"] and codes.tolist() == [0, 0, 1, 0]
    assert names.tolist() == [b"000001.jpg", b"000002.jpg", b"000003.jpg", b"000009.jpg"]
    assert codes.dtype.name == "int32" and names.dtype.kind == "S"  # compact for workers
    # a crop at the faces root itself: no folder
    codes, folders, names = split_paths(pd.Series(["root.jpg", "ff/b.jpg"]))
    assert [folders[c] for c in codes] == ["", "ff"] and names.tolist() == [b"root.jpg",
                                                                            b"b.jpg"]
    codes, folders, names = split_paths(pd.Series([], dtype=str))
    assert len(codes) == 0 and folders == []
