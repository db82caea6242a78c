"""RandFusedAffine(d): MONAI's geometry in one resampling, masks kept binary, metadata affine, draw rates."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser
from monai.data import MetaTensor
from monai.transforms import Affine, Compose, Flip, Rotate

from mammo_monai.transforms import RandFusedAffine, RandFusedAffined, mammography_train_augmentations_config
from mammo_monai.transforms.fused_affine import fused_affine_apply


def _image(rows: int = 64, cols: int = 48) -> torch.Tensor:
    torch.manual_seed(0)
    img = torch.zeros(1, rows, cols)
    img[:, 10:30, 5:20] = 1.0
    return img + 0.1 * torch.rand(1, rows, cols)


def _only(**kwargs) -> RandFusedAffine:
    defaults = {"prob": 1.0, "rotate_range": 0.0, "scale_range": 0.0, "shear_range": 0.0, "flip_axes": ()}
    return RandFusedAffine(**{**defaults, **kwargs})


def test_rotation_matches_monai_rotate():
    img = _image()
    ours = _only(rotate_range=(0.3, 0.3))(img)
    monai = Rotate(0.3, keep_size=True, mode="bilinear", padding_mode="zeros", align_corners=False)(img)
    assert torch.allclose(ours, monai.as_tensor(), atol=1e-5)


def test_scale_matches_monai_affine():
    img = _image()
    t = _only()
    t.matrix, t.flips = np.diag([1.1, 0.9, 1.0]), ()
    ours = fused_affine_apply(img, t._centred(img.shape[1:]))
    monai = Affine(scale_params=(1.1, 0.9), mode="bilinear", padding_mode="zeros", image_only=True)(img)
    assert torch.allclose(ours, monai.as_tensor(), atol=1e-5)


def test_one_resampling_equals_the_monai_chain_rotate_then_flip():
    img = _image()
    ours = _only(rotate_range=(0.3, 0.3), flip_axes=(0, 1))(img)
    chain = Flip(1)(Flip(0)(Rotate(0.3, keep_size=True, padding_mode="zeros", align_corners=False)(img)))
    assert torch.allclose(ours, chain.as_tensor(), atol=1e-5)


def test_flips_alone_are_exact_and_no_draw_returns_the_input():
    img = _image()
    assert torch.equal(_only(flip_axes=(0,))(img), torch.flip(img, [1]))
    untouched = RandFusedAffine(prob=0.0)
    assert untouched(img) is img


def test_masks_stay_binary_and_move_with_the_image():
    label = torch.zeros(1, 96, 80)
    label[:, 20:45, 10:30] = 1
    item = {"image": label.clone() * 0.8, "label": label}
    t = RandFusedAffined(["image", "label"], prob=1.0, rotate_range=np.pi, scale_range=0.2, shear_range=0.1,
                         translate_range=5, flip_axes=(0, 1), mode=["bilinear", "nearest"])
    for seed in range(5):
        out = t.set_random_state(seed)(item)
        assert sorted(out["label"].unique().tolist()) == [0.0, 1.0]
        inside = out["image"][out["label"] > 0]
        assert inside.mean() > 0.7  # the image's bright block is where the mask went


def test_integer_masks_keep_their_dtype_and_classes():
    classes = torch.zeros(1, 40, 40, dtype=torch.int64)
    classes[:, 5:15, 5:15], classes[:, 20:35, 20:35] = 1, 2
    out = _only(rotate_range=(0.5, 0.5), mode="nearest")(classes)
    assert out.dtype == torch.int64 and set(out.unique().tolist()) <= {0, 1, 2}


def test_metatensor_gets_the_affine_of_the_new_grid():
    img = MetaTensor(_image(), affine=torch.diag(torch.tensor([0.2, 0.3, 1.0, 1.0], dtype=torch.float64)),
                     meta={"filename_or_obj": "x.png"})
    out = _only(flip_axes=(0,))(img)
    assert isinstance(out, MetaTensor) and out.meta["filename_or_obj"] == "x.png"
    # output pixel (0, 0) is input pixel (rows - 1, 0): same world position
    world_out = out.affine @ torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=torch.float64)
    world_in = img.affine @ torch.tensor([63.0, 0.0, 0.0, 1.0], dtype=torch.float64)
    assert torch.allclose(world_out, world_in)
    rotated = _only(rotate_range=(0.4, 0.4))(img)
    t = RandFusedAffine(prob=1.0, rotate_range=(0.4, 0.4), scale_range=0, shear_range=0, flip_axes=())
    t.randomize()
    pixel = t._centred((64, 48)) @ np.array([10.0, 20.0, 1.0])
    expected = img.affine.numpy() @ np.array([pixel[0], pixel[1], 0.0, 1.0])
    assert np.allclose(rotated.affine.numpy() @ np.array([10.0, 20.0, 0.0, 1.0]), expected)


def test_each_component_is_drawn_with_its_own_probability():
    t = RandFusedAffine(prob=0.5, rotate_range=0.2, scale_range=0.1, shear_range=0.0, flip_axes=(0,))
    t.set_random_state(0)
    nothing = flips_only = 0
    for _ in range(4000):
        t.randomize()
        nothing += t.matrix is None and not t.flips
        flips_only += t.matrix is None and bool(t.flips)
    assert abs(nothing / 4000 - 0.125) < 0.02 and abs(flips_only / 4000 - 0.125) < 0.02


def test_argument_and_grid_errors():
    with pytest.raises(ValueError, match="prob"):
        RandFusedAffine(prob=2.0)
    with pytest.raises(ValueError, match="flip_axes"):
        RandFusedAffine(flip_axes=(2,))
    with pytest.raises(ValueError, match="mode"):
        RandFusedAffined("image", mode="bicubic")
    with pytest.raises(ValueError, match="scale_range"):
        RandFusedAffine(scale_range=-1)
    with pytest.raises(ValueError, match="share a grid"):
        RandFusedAffined(["a", "b"], prob=1.0)({"a": torch.zeros(1, 8, 8), "b": torch.zeros(1, 8, 9)})
    with pytest.raises(ValueError, match="channel-first"):
        fused_affine_apply(torch.zeros(8, 8), np.eye(3))


def test_augmentation_config_fused_is_one_step_and_a_bundle_can_build_it():
    config = mammography_train_augmentations_config(["image", "label"], label_keys="label", fused_spatial=True,
                                                    rotate_range=0.2, flip_left_right=True)
    targets = [c["_target_"].rsplit(".", 1)[1] for c in config]
    assert targets[0] == "RandFusedAffined" and "RandRotated" not in targets and "RandFlipd" not in targets
    assert config[0]["flip_axes"] == [0, 1] and config[0]["mode"] == ["bilinear", "nearest"]
    parser = ConfigParser({"augment": {"_target_": "Compose", "transforms": config}})
    augment = parser.get_parsed_content("augment")
    assert isinstance(augment, Compose)
    label = torch.zeros(1, 32, 32)
    label[:, 8:20, 8:20] = 1
    out = augment.set_random_state(0)({"image": torch.rand(1, 32, 32), "label": label})
    assert sorted(out["label"].unique().tolist()) in ([0.0, 1.0], [0.0])
