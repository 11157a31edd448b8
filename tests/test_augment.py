import numpy as np
import pytest

from deepfake_mlflow import augment, naming
from deepfake_mlflow.errors import UserInputError


@pytest.mark.parametrize("name", list(augment.AUGMENTATIONS))
def test_each_augmentation_applies_and_keeps_shape_and_dtype(name):
    image = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    single = augment.transform(name, p=1.0)  # forced to fire
    out = single(image=image)["image"]
    assert out.shape == image.shape and out.dtype == np.uint8
    if name != "HF":  # a flip of random noise is still a different image
        assert not np.array_equal(out, image)


def test_groups_compose_what_they_should():
    assert augment.parse("SELECTED") == ["HF", "BC", "HSV", "JPEG"]
    assert augment.parse("mix") == list(augment.AUGMENTATIONS)
    assert augment.parse("NONE") == [] and augment.parse("") == []
    assert augment.parse("jpeg, hf") == ["HF", "JPEG"]
    assert len(augment.build("MIX").transforms) == 7
    assert naming.augment_tag(augment.parse("SELECTED")) == "bc+hf+hsv+jpeg"
    assert naming.augment_tag([]) == "none"


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(UserInputError, match="unknown augmentation 'BLUR'.*HF, BC, HSV"):
        augment.parse("HF,BLUR")


def test_pipeline_is_reproducible_under_a_seed_and_serialisable():
    pipeline = augment.build("MIX", seed=1)
    image = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    pipeline.set_random_seed(7)
    a = pipeline(image=image)["image"]
    pipeline.set_random_seed(7)
    assert np.array_equal(a, pipeline(image=image)["image"])
    names = [t["__class_fullname__"] for t in augment.to_json(pipeline)["transform"]["transforms"]]
    assert "ImageCompression" in names and "Downscale" in names
