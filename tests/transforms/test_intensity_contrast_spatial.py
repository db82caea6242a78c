"""Intensity windowing, breast-only CLAHE, pixel spacing, and invertible lesion crops."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from monai.transforms import Compose, Invertd, LoadImaged, Spacingd

from mammo_monai.io import MammogramReader
from mammo_monai.transforms.contrast import CLAHE, CLAHEd
from mammo_monai.transforms.intensity import IntensityWindow, IntensityWindowd, window_from_meta
from mammo_monai.transforms.spatial import LesionCropd, SetPixelSpacingd, lesion_crop_box


def test_fixed_and_dicom_windows():
    img = MetaTensor(torch.arange(0, 5000, dtype=torch.float32).reshape(1, 50, 100))
    out = IntensityWindow(mode="fixed", window=(1000, 3000))(img)
    assert float(out.min()) == 0 and float(out.max()) == 1 and out.meta["intensity_window"] == [1000, 3000]
    img.meta["window"] = [2000.5, 2001.0]  # DICOM linear window: [center - 0.5 - (w-1)/2, ... + (w-1)/2]
    out = IntensityWindow(mode="dicom")(img)
    assert out.meta["intensity_window_mode"] == "dicom" and out.meta["intensity_window"] == [1000.0, 3000.0]
    assert window_from_meta({"voi_applied": "window", "value_range": [0, 4095], "window": [1, 2]}) == (0, 4095)
    del img.meta["window"]
    assert IntensityWindow(mode="dicom")(img).meta["intensity_window_mode"] == "percentiles"  # the fallback
    with pytest.raises(ValueError, match="window"):
        IntensityWindow(mode="fixed")


def test_percentiles_inside_the_breast_ignore_the_film_background():
    img = torch.zeros(1, 100, 100)
    img[:, 20:80, 10:60] = torch.linspace(1000, 2000, 60 * 50).reshape(60, 50)
    img[:, 0:5, 90:100] = 60000  # a film label
    mask = torch.zeros(1, 100, 100)
    mask[:, 20:80, 10:60] = 1
    out = IntensityWindowd(keys="image", mode="percentiles", percentiles=(0, 100))({"image": img, "breast_mask": mask})
    low, high = out["image"].meta["intensity_window"]
    assert low == pytest.approx(1000) and high == pytest.approx(2000)
    unmasked = IntensityWindow(percentiles=(0, 100))(img)
    assert unmasked.meta["intensity_window"][1] == 60000


def test_real_ddsm_window_from_the_file(shared_dicom):
    item = LoadImaged(keys="image", reader=MammogramReader(), ensure_channel_first=True)(
        {"image": str(shared_dicom / "nema-wg04" / "MG1_J2KI.dcm")})
    out = IntensityWindowd(keys="image", mode="dicom")(item)
    assert out["image"].meta["intensity_window_mode"] == "dicom"
    assert out["image"].meta["intensity_window"] == [-0.5, 4093.5]
    assert 0 <= float(out["image"].min()) and float(out["image"].max()) == 1


def test_clahe_only_inside_the_breast():
    rng = np.random.default_rng(0)
    img = torch.as_tensor(rng.uniform(0.3, 0.5, (1, 128, 96)), dtype=torch.float32)
    mask = torch.zeros(1, 128, 96)
    mask[:, 10:120, 0:70] = 1
    out = CLAHEd(keys="image", clip_limit=0.03)({"image": MetaTensor(img), "breast_mask": mask})["image"]
    outside = mask[0] == 0
    assert torch.equal(out[0][outside], img[0][outside])
    assert out[0][~outside].std() > img[0][~outside].std() * 1.5
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        CLAHE()(img * 100)


def test_set_pixel_spacing_then_resample():
    img = MetaTensor(torch.zeros(1, 200, 100))
    item = SetPixelSpacingd(keys="image", spacing=0.05)({"image": img})
    assert item["image"].meta["pixel_spacing"] == [0.05, 0.05]
    out = Spacingd(keys="image", pixdim=(0.2, 0.2))(item)
    assert abs(out["image"].shape[1] - 50) <= 1 and abs(out["image"].shape[2] - 25) <= 1  # 4x coarser
    known = MetaTensor(torch.zeros(1, 10, 10), meta={"pixel_spacing": [0.1, 0.1]})
    assert SetPixelSpacingd(keys="image", spacing=0.05)({"image": known})["image"].meta["pixel_spacing"] == [0.1, 0.1]


def test_lesion_crop_box_sources():
    assert lesion_crop_box({"box": [10, 20, 30, 60]}, context=1.0, min_size=8) == [0, 20, 40, 60]
    mask = np.zeros((100, 100))
    mask[40:50, 40:44] = 1
    assert lesion_crop_box({"box": [0, 0, 100, 100]}, context=2.0, min_size=8, mask=mask) == [35, 32, 55, 52]
    with pytest.raises(ValueError, match="no mask, box"):
        lesion_crop_box({"center": None, "box": None})


@pytest.mark.parametrize("center", [[50, 40], [3, 78], [97, 2]])
def test_lesion_crop_inverts_onto_the_mammogram(center):
    rng = np.random.default_rng(1)
    label = MetaTensor(torch.as_tensor(rng.random((1, 100, 80)) > 0.5, dtype=torch.float32))
    pipeline = Compose([LesionCropd(keys=["image", "label"], context=2.0, min_size=16)])
    out = pipeline({"image": MetaTensor(torch.rand(1, 100, 80)), "label": label,
                    "lesion": {"center": center, "radius": 8, "box": None}})
    assert out["image"].shape[-2:] == (34, 34)
    out["pred"] = out["label"].clone()
    back = Invertd(keys="pred", transform=pipeline, orig_keys="label")(out)["pred"]
    r0, c0, r1, c1 = out["lesion_crop_box"]
    inside = (slice(None), slice(max(r0, 0), r1), slice(max(c0, 0), c1))
    assert back.shape == label.shape and torch.equal(back[inside], label[inside])
    assert float(back.sum()) == float(label[inside].sum())  # zero outside the crop
