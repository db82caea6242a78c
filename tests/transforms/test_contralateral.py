"""The other breast as a second channel: shape, mirroring, pairing, missing partner, inversion, bundle switch."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from monai.transforms import Invertd
from PIL import Image

import mammo_monai.transforms as mt
from mammo_monai.data.mias import index_mias
from mammo_monai.data.schema import CONTRALATERAL_IMAGE, SPLITS, load_datalist

BUNDLE = Path(__file__).resolve().parents[2] / "bundles" / "mammo_image_classification" / "configs"


def _film(path: Path, side: str, blob: tuple[int, int] | None = None) -> Path:
    """A 96 x 64 film whose breast touches the chest wall on ``side`` ('L' stored on the left, like MIAS)."""
    img = np.zeros((96, 64), np.uint8)
    cols = slice(0, 40) if side == "L" else slice(24, 64)
    img[8:88, cols] = 120
    if blob:
        img[blob[0]:blob[0] + 8, blob[1]:blob[1] + 8] = 250
    Image.fromarray(img).save(path)
    return path


@pytest.fixture
def pair(tmp_path):
    left = _film(tmp_path / "left.png", "L", blob=(20, 10))
    right = _film(tmp_path / "right.png", "R")
    return ({"image": str(left), "laterality": "L", "view": "MLO", CONTRALATERAL_IMAGE: str(right)},
            {"image": str(right), "laterality": "R", "view": "MLO", CONTRALATERAL_IMAGE: str(left)})


def test_partner_is_mirrored_onto_the_image(pair):
    pipeline = mt.full_mammogram_transforms(spatial_size=64, label_key=None)
    t = mt.ContralateralChanneld("image", preprocess=pipeline)
    left, right = (t(pipeline(dict(i)))["image"] for i in pair)
    assert tuple(left.shape) == tuple(right.shape) == (2, 64, 64)
    # both breasts face the chest wall at column 0 in both channels
    for image in (left, right):
        for channel in image:
            assert channel[:, :4].mean() > channel[:, -4:].mean()
    # the channels of one are the other's, swapped: the same films through the same pipeline
    assert torch.allclose(left[0], right[1]) and torch.allclose(left[1], right[0])
    # only the image's own geometry is recorded: inverse maps the prediction back to the left film's grid
    out = t(pipeline(dict(pair[0])))
    out["pred"] = out["image"][:1].clone()
    back = Invertd(keys="pred", transform=pipeline, orig_keys="image", nearest_interp=False)(out)["pred"]
    assert tuple(back.shape[-2:]) == (96, 64)


def test_difference_mode_and_missing_partner(pair):
    pipeline = mt.full_mammogram_transforms(spatial_size=64, label_key=None)
    stacked = mt.ContralateralChanneld("image", preprocess=pipeline)(pipeline(dict(pair[0])))["image"]
    diff = mt.ContralateralChanneld("image", preprocess=pipeline, mode="difference")(pipeline(dict(pair[0])))["image"]
    assert torch.allclose(diff[1], stacked[0] - stacked[1])
    alone = {k: v for k, v in pair[0].items() if k != CONTRALATERAL_IMAGE}
    zeros = mt.ContralateralChanneld("image", preprocess=pipeline)(pipeline(dict(alone)))["image"]
    assert zeros.shape[0] == 2 and float(zeros[1].abs().sum()) == 0.0
    with pytest.raises(ValueError, match=r"left\.png.*no 'contralateral_image'"):
        mt.ContralateralChanneld("image", preprocess=pipeline, missing="error")(pipeline(dict(alone)))
    off = mt.ContralateralChanneld("image", preprocess=pipeline, enabled=False)(pipeline(dict(pair[0])))
    assert off["image"].shape[0] == 1


def test_bad_settings_and_shapes():
    with pytest.raises(ValueError, match="mode must be one of"):
        mt.ContralateralChanneld("image", preprocess=lambda d: d, mode="sum")
    with pytest.raises(ValueError, match="missing must be one of"):
        mt.ContralateralChanneld("image", preprocess=lambda d: d, missing="skip")
    t = mt.ContralateralChanneld("image", preprocess=lambda d: {"image": torch.zeros(1, 4, 5)})
    item = {"image": MetaTensor(torch.zeros(1, 4, 4), meta={"filename_or_obj": "x.png"}), CONTRALATERAL_IMAGE: "y.png"}
    with pytest.raises(ValueError, match=r"x\.png: the other breast y\.png preprocesses to \(1, 4, 5\)"):
        t(item)


def test_bundle_switch_gives_two_channels_and_a_two_channel_network(pair):
    from monai.bundle import ConfigParser

    for contralateral, channels in ((False, 1), (True, 2)):
        parser = ConfigParser()
        parser.read_config([str(BUNDLE / "train.json"), str(BUNDLE / "mias_cpu.json")])
        parser.update({"contralateral": contralateral, "image_size": 64, "augment_rotate_range": 0.0})
        preprocessing = parser.get_parsed_content("validate#preprocessing")
        item = preprocessing(dict(pair[0], label=0))
        assert item["image"].shape[0] == channels
        network = parser.get_parsed_content("network_def")
        assert network(item["image"][None].float()).shape == (1, 2)


@pytest.mark.shared
def test_real_mias_pairs(shared_mias, tmp_path):
    index_mias(shared_mias, tmp_path / "mias.json", progress=False)
    items = [i for s in SPLITS for i in load_datalist(tmp_path / "mias.json")[s]][:2]
    pipeline = mt.full_mammogram_transforms(spatial_size=128, label_key=None)
    t = mt.ContralateralChanneld("image", preprocess=pipeline)
    a, b = (t(pipeline(dict(i)))["image"] for i in items)
    assert items[0][CONTRALATERAL_IMAGE] == items[1]["image"] and a.shape == (2, 128, 128)
    assert torch.allclose(a[0], b[1]) and torch.allclose(a[1], b[0])
    # the two breasts of one woman overlap far better mirrored (as stacked) than as stored
    mask_a, mask_b = (a[0] > 0.05), (a[1] > 0.05)
    iou = float((mask_a & mask_b).sum() / (mask_a | mask_b).sum())
    assert iou > 0.6, iou
    json.dumps(items)  # the datalist stays JSON
