"""Normal-tissue pseudo-lesions: inside the breast, sized in mm, fixed per image for evaluation, cut like lesions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor

from mammo_monai.transforms import LesionCropd, NormalTissueLesiond, RandNormalTissueLesiond


def _item(name: str = "/d/normal.png", spacing: bool = False) -> dict:
    rows, cols = np.mgrid[:600, :400]
    breast = ((rows - 300) / 260.0) ** 2 + (cols / 300.0) ** 2 <= 1  # a half ellipse on the chest-wall side
    img = torch.from_numpy((breast * 900.0 + 20.0).astype(np.float32))[None]
    meta = {"filename_or_obj": name}
    if spacing:
        meta["pixel_spacing"] = [0.1, 0.1]
        image = MetaTensor(img, affine=torch.diag(torch.tensor([0.1, 0.1, 1.0])), meta=meta)
    else:
        image = MetaTensor(img, meta=meta)
    return {"image": image, "lesion": None, "type_pathology": "normal", "breast": breast}


def _inside(item: dict) -> bool:
    lesion = item["lesion"]
    (r, c), radius = lesion["center"], lesion["radius"]
    rows, cols = np.mgrid[:600, :400]
    circle = (rows - r) ** 2 + (cols - c) ** 2 <= radius**2
    return bool(item["breast"][circle].mean() > 0.97)  # the circle lies in the breast (working-copy precision)


def test_circle_inside_the_breast_and_radius_in_mm():
    sampler = RandNormalTissueLesiond(default_spacing=0.2, radius_mm=(4, 10)).set_random_state(0)
    radii = []
    for _ in range(20):
        out = sampler(_item())
        assert out["lesion"]["pathology"] == "normal" and out["lesion"]["source"] == "normal_tissue"
        assert _inside(out)
        radii.append(out["lesion"]["radius"])
    assert 20 <= min(radii) and max(radii) <= 50  # 4-10 mm at 0.2 mm per pixel
    with_spacing = NormalTissueLesiond(radius_mm=(4, 4))(_item(spacing=True))
    assert with_spacing["lesion"]["radius"] == pytest.approx(40.0)  # the file's own 0.1 mm beats any default


def test_deterministic_per_image_random_per_call_in_training():
    fixed = NormalTissueLesiond(default_spacing=0.2)
    a, b = fixed(_item())["lesion"], NormalTissueLesiond(default_spacing=0.2)(_item())["lesion"]
    assert a == b  # same image, another instance (another worker, another run): the same crop
    assert fixed(_item("/d/other.png"))["lesion"] != a
    train = RandNormalTissueLesiond(default_spacing=0.2).set_random_state(1)
    assert len({tuple(train(_item())["lesion"]["center"]) for _ in range(5)}) > 1


def test_lesion_items_pass_and_errors_are_named():
    sampler = NormalTissueLesiond(default_spacing=0.2)
    lesion = {"center": [10, 10], "radius": 5, "box": None}
    item = {**_item(), "lesion": lesion, "type_pathology": "benign_mass"}
    assert sampler(item)["lesion"] is lesion
    with pytest.raises(ValueError, match="normal.png has no pixel spacing"):
        NormalTissueLesiond()(_item())
    empty = _item()
    empty["image"] = MetaTensor(torch.zeros(1, 50, 40), meta={"filename_or_obj": "/d/empty.png"})
    with pytest.raises(ValueError, match="no breast found in /d/empty.png"):
        sampler(empty)
    with pytest.raises(ValueError, match="radius_mm"):
        NormalTissueLesiond(radius_mm=(5, 2))


def test_cut_by_the_lesion_crop_like_a_lesion():
    out = NormalTissueLesiond(default_spacing=0.2)(_item())
    crop = LesionCropd(keys="image", context=1.5, min_size=32)(out)
    side = crop["image"].shape[-1]
    assert crop["image"].shape[-2] == side and side >= 2 * out["lesion"]["radius"]
    assert float(crop["image"].min()) > 100  # all breast: no film background in a normal-tissue crop
