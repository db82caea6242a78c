"""Overlay PNGs of predictions on their original images."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from PIL import Image

from mammo_monai.inference import PRED_COLOUR, SaveOverlayd, overlay_rgb


def _image(tmp_path, shape=(300, 200)):
    rng = np.random.default_rng(0)
    arr = (rng.random(shape) * 200).astype(np.uint8)
    path = tmp_path / "cases" / "case1" / "img.png"
    path.parent.mkdir(parents=True)
    Image.fromarray(arr).save(path)
    return path


def _pred(path, shape=(300, 200)):
    mask = torch.zeros(1, *shape)
    mask[:, 100:160, 50:120] = 1
    return MetaTensor(mask, meta={"filename_or_obj": str(path)})


def test_overlay_written_under_the_mirrored_folder(tmp_path):
    path = _image(tmp_path)
    out = SaveOverlayd(keys="pred", output_dir=tmp_path / "pred", data_root_dir=str(tmp_path / "cases"),
                       max_size=150)({"pred": _pred(path)})
    assert "pred" in out
    png = tmp_path / "pred" / "case1" / "img_overlay.png"
    with Image.open(png) as im:
        rgb = np.asarray(im)
    assert rgb.shape == (150, 100, 3)
    red = np.all(rgb == PRED_COLOUR, axis=2)
    assert red.any() and red[:45].sum() == 0  # the contour lies around rows 100..160 of 300 -> 50..80 of 150
    with pytest.raises(FileExistsError):
        SaveOverlayd(keys="pred", output_dir=tmp_path / "pred", data_root_dir=str(tmp_path / "cases"),
                     overwrite=False)({"pred": _pred(path)})


def test_misaligned_or_anonymous_predictions_are_named(tmp_path, caplog):
    path = _image(tmp_path)
    with caplog.at_level(logging.ERROR):
        SaveOverlayd(keys="pred", output_dir=tmp_path / "pred")({"pred": _pred(path, (100, 100))})
    assert "not on the image grid" in caplog.text and str(path) in caplog.text
    assert not list((tmp_path / "pred").rglob("*.png"))
    with pytest.raises(ValueError, match="filename_or_obj"):
        SaveOverlayd(keys="pred", output_dir=tmp_path / "pred")({"pred": torch.zeros(1, 4, 4)})


def test_overlay_rgb_fits_and_keeps_the_aspect():
    rgb = overlay_rgb(np.zeros((400, 100)), [(np.ones((400, 100), bool), (1, 2, 3))], size=200)
    assert rgb.shape == (200, 50, 3) and (rgb == (1, 2, 3)).all(axis=2).any()
