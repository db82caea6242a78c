"""Training augmentations: masks stay binary, laterality-respecting flips, shapes, the bundle-config twin."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser
from monai.data import MetaTensor
from monai.transforms import (
    Compose,
    Rand2DElasticd,
    RandAdjustContrastd,
    RandFlipd,
    RandGaussianNoised,
    RandRotated,
    RandScaleIntensityd,
)

from mammo_monai.transforms.augment import mammography_train_augmentations, mammography_train_augmentations_config

H, W = 96, 64


def _item() -> dict:
    image = torch.rand(1, H, W)
    label = torch.zeros(1, H, W)
    label[:, 30:50, 10:30] = 1
    classes = torch.zeros(1, H, W)
    classes[:, 20:30, 5:15], classes[:, 60:70, 30:40] = 1, 2
    return {"image": MetaTensor(image), "label": MetaTensor(label), "lesion_mask": MetaTensor(classes)}


def _flips(transforms):
    return [t.flipper.spatial_axis for t in transforms if isinstance(t, RandFlipd)]


def test_default_flip_is_up_down_only():
    assert _flips(mammography_train_augmentations("image")) == [0]
    assert _flips(mammography_train_augmentations("image", flip_left_right=True)) == [0, 1]
    assert _flips(mammography_train_augmentations("image", flip_up_down=False)) == []
    only_flip = Compose(mammography_train_augmentations(
        "image", label_keys="label", prob=1.0, rotate_range=0, scale_range=0, shear_range=0, intensity_scale=0,
        intensity_shift=0, gamma=None))
    item = _item()
    out = only_flip(dict(item))
    assert torch.equal(out["image"].as_tensor(), item["image"].as_tensor().flip(1))  # rows reversed
    assert torch.equal(out["label"].as_tensor(), item["label"].as_tensor().flip(1))
    # the chest wall stays on the left: the left column of the output is the left column of the input
    assert torch.equal(out["image"][0, :, 0], item["image"][0, :, 0].flip(0))


@pytest.mark.parametrize("elastic", [False, True])
def test_masks_stay_binary_and_shapes_are_kept(elastic):
    augment = Compose(mammography_train_augmentations(
        "image", label_keys=["label", "lesion_mask"], prob=1.0, noise_std=0.01, elastic=elastic,
        elastic_spacing=(16, 16), elastic_magnitude=(1, 3), translate_range=4))
    for seed in range(4):
        out = augment.set_random_state(seed)(_item())
        assert isinstance(out["image"], MetaTensor)
        for key in ("image", "label", "lesion_mask"):
            assert out[key].shape == (1, H, W)
        assert set(out["label"].unique().tolist()) <= {0.0, 1.0} and out["label"].sum() > 0
        assert set(out["lesion_mask"].unique().tolist()) <= {0.0, 1.0, 2.0}


def test_intensity_only_on_images_and_keys_given_twice():
    transforms = mammography_train_augmentations(["image", "label"], label_keys="label", noise_std=0.02)
    intensity = [t for t in transforms if isinstance(t, (RandScaleIntensityd, RandAdjustContrastd,
                                                         RandGaussianNoised))]
    assert len(intensity) == 3 and all(tuple(t.keys) == ("image",) for t in intensity)
    rotate = next(t for t in transforms if isinstance(t, RandRotated))
    assert tuple(rotate.keys) == ("image", "label") and rotate.mode == ("bilinear", "nearest")
    assert rotate.rand_rotate.range_x == (-np.pi, np.pi)  # any angle by default
    assert not any(isinstance(t, Rand2DElasticd) for t in transforms)  # elastic is opt-in


def test_config_twin_instantiates_the_same_transforms():
    kwargs = {"label_keys": "label", "prob": 0.7, "rotate_range": np.pi / 6, "noise_std": 0.01, "elastic": True,
              "elastic_spacing": (16, 16)}
    config = mammography_train_augmentations_config("image", **kwargs)
    config = json.loads(json.dumps(config))  # JSON-able, as a bundle file holds it
    assert all(item["_target_"].startswith("monai.transforms.") for item in config)
    parsed = ConfigParser({"augment": config}).get_parsed_content("augment")
    direct = mammography_train_augmentations("image", **kwargs)
    assert [type(t) for t in parsed] == [type(t) for t in direct]
    a = Compose(parsed).set_random_state(11)(_item() | {"image": MetaTensor(torch.linspace(0, 1, H * W).view(1, H, W))})
    b = Compose(direct).set_random_state(11)(_item() | {"image": MetaTensor(torch.linspace(0, 1, H * W).view(1, H, W))})
    assert torch.equal(a["image"].as_tensor(), b["image"].as_tensor())
    assert torch.equal(a["label"].as_tensor(), b["label"].as_tensor())


def test_argument_checks():
    with pytest.raises(ValueError, match="prob"):
        mammography_train_augmentations("image", prob=1.5)
    with pytest.raises(ValueError, match="gamma"):
        mammography_train_augmentations("image", gamma=(2.0, 1.0))
    with pytest.raises(ValueError, match="no keys"):
        mammography_train_augmentations((), label_keys=())
    labels_only = mammography_train_augmentations((), label_keys="label")
    assert all(tuple(t.keys) == ("label",) for t in labels_only)
