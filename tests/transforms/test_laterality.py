"""Laterality normalisation: decision order, invertibility, agreement with the real headers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from monai.transforms import Compose, Invertd, LoadImaged

from mammo_monai.io import MammogramReader
from mammo_monai.transforms.laterality import (
    NormalizeLaterality,
    NormalizeLateralityd,
    chest_wall_side,
    chest_wall_side_from_image,
)


def _breast(side: str, rows: int = 120, cols: int = 90) -> MetaTensor:
    """A half-disc of tissue against the ``side`` edge, tallest at the chest wall."""
    r, c = np.mgrid[:rows, :cols]
    dist = c if side == "left" else cols - 1 - c
    tissue = ((r - rows / 2) / (rows / 2)) ** 2 + (dist / (cols * 0.8)) ** 2 <= 1
    return MetaTensor(torch.as_tensor(tissue[None] * 100.0 + 5.0, dtype=torch.float32))


def test_decision_order():
    assert chest_wall_side("L", ["P", "FL"]) == ("right", "patient_orientation")
    assert chest_wall_side("L", None) == ("left", "laterality")
    assert chest_wall_side("RIGHT", "CC") == ("right", "laterality")  # "CC" is a view, not a direction
    assert chest_wall_side("R", None, convention={"R": "left", "L": "right"}) == ("left", "laterality")
    assert chest_wall_side(None, None, _breast("right")) == ("right", "image")
    with pytest.raises(ValueError, match="cannot tell"):
        chest_wall_side(None, None, None)


@pytest.mark.parametrize("side", ["left", "right"])
def test_image_based_side(side):
    assert chest_wall_side_from_image(_breast(side)) == side
    padded = torch.zeros(1, 120, 300)
    padded[:, :, 100:190] = _breast(side)  # a padded film: the chest wall is far from the image edge
    assert chest_wall_side_from_image(padded) == side


def test_dictionary_flip_applies_to_every_key_and_inverts():
    image = _breast("right")
    label = MetaTensor(torch.zeros(1, 120, 90))
    label[0, 60, 85] = 1
    pipeline = Compose([NormalizeLateralityd(keys=["image", "label"])])
    out = pipeline({"image": image, "label": label, "laterality": "R"})
    assert out["label"][0, 60, 4] == 1 and out["image"].meta["laterality_flipped"]
    assert out["image"].meta["chest_wall_side_source"] == "laterality"
    assert chest_wall_side_from_image(out["image"]) == "left"
    out["pred"] = out["label"].clone()
    back = Invertd(keys="pred", transform=pipeline, orig_keys="label")(out)
    assert torch.equal(back["pred"], label) and back["pred"].applied_operations == []
    kept = pipeline({"image": _breast("left"), "label": label, "laterality": "L"})
    assert torch.equal(kept["label"], label) and not kept["image"].meta["laterality_flipped"]


def test_header_laterality_used_when_the_item_has_none():
    image = _breast("left")
    image.meta["laterality"] = "R"  # a header that says R: by convention the chest wall is on the right
    out = NormalizeLaterality()(image)
    assert out.meta["laterality_flipped"] and out.meta["chest_wall_side_source"] == "laterality"
    assert out.meta["chest_wall_side_from_image"] == "left"  # the disagreement is visible in the meta


def test_real_cbis_views_flip_as_their_laterality_says(shared_dicom):
    """On all four real CBIS-DDSM views the header-based flip agrees with the pixels."""
    load = LoadImaged(keys="image", reader=MammogramReader(), ensure_channel_first=True)
    normalize = NormalizeLateralityd(keys="image")
    for path in sorted((shared_dicom / "cbis-ddsm").glob("*.dcm")):
        item = normalize(load({"image": str(path)}))
        meta = item["image"].meta
        assert meta["chest_wall_side_source"] == "laterality"
        assert meta["chest_wall_side"] == meta["chest_wall_side_from_image"]
        assert meta["laterality_flipped"] == ("RIGHT" in path.name)
        assert chest_wall_side_from_image(item["image"]) == "left"


def test_real_mias_convention(shared_mias):
    """mini-MIAS stores left breasts with the chest wall on the left and right ones on the right, like CBIS."""
    from PIL import Image

    agree = 0
    for path in sorted(shared_mias.glob("mdb*.png")):
        expected = "right" if int(path.stem[3:]) % 2 else "left"
        agree += chest_wall_side_from_image(np.asarray(Image.open(path))) == expected
    assert agree >= 205  # 208 of 216 measured; the rest fill the film (see the docstring)
