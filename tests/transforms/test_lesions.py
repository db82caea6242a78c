"""Lesion masks from the datalist item's ``lesions``: circles, boxes, filters, classes, grid checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor

from mammo_monai.data.schema import make_lesion
from mammo_monai.transforms.laterality import NormalizeLateralityd
from mammo_monai.transforms.lesions import LesionMask, LesionMaskd, lesion_regions


def _disc(shape, center, radius):
    r, c = np.mgrid[: shape[0], : shape[1]]
    return (r - center[0]) ** 2 + (c - center[1]) ** 2 <= radius**2


LESIONS = [
    make_lesion("mass", "malignant", center=(30.5, 20.0), radius=7.5),
    make_lesion("calcification", "benign", box=(60, 40, 66, 52)),
    make_lesion("calcification", "malignant"),  # no position (spread over the breast): skipped
    make_lesion("architectural_distortion", "benign", center=(10, 50), radius=3),
]


def test_circle_and_box_binary():
    mask = LesionMask()((80, 64), LESIONS)
    assert mask.shape == (1, 80, 64) and mask.dtype == torch.float32
    expected = _disc((80, 64), (30.5, 20.0), 7.5) | _disc((80, 64), (10, 50), 3)
    expected[60:66, 40:52] = True
    assert torch.equal(mask[0].bool(), torch.from_numpy(expected))
    assert set(mask.unique().tolist()) == {0.0, 1.0}


def test_circle_lies_inside_the_schema_box():
    lesion = LESIONS[0]
    r0, c0, r1, c1 = lesion["box"]
    mask = LesionMask(shape="circle")((80, 64), [lesion])[0]
    rows, cols = torch.nonzero(mask, as_tuple=True)
    assert rows.min() >= r0 and rows.max() < r1 and cols.min() >= c0 and cols.max() < c1
    boxed = LesionMask(shape="box")((80, 64), [lesion])[0]  # shape="box" prefers the box
    assert int(boxed.sum()) == (r1 - r0) * (c1 - c0) > int(mask.sum())


def test_type_and_pathology_filters_and_class_map():
    only_masses = LesionMask(lesion_types="mass")((80, 64), LESIONS)[0].numpy().astype(bool)
    assert np.array_equal(only_masses, _disc((80, 64), (30.5, 20.0), 7.5))
    benign = LesionMask(pathologies=["benign"])((80, 64), LESIONS)[0]
    assert benign[30, 20] == 0 and benign[62, 45] == 1 and benign[10, 50] == 1
    classes = LesionMask(class_map={"mass": 1, "calcification": 2})((80, 64), LESIONS)[0]
    assert classes[30, 20] == 1 and classes[62, 45] == 2 and classes[10, 50] == 0  # distortion: not in the map
    assert set(classes.unique().tolist()) == {0.0, 1.0, 2.0}
    specific = LesionMask(class_map={"malignant": 5, "calcification/benign": 3})((80, 64), LESIONS)[0]
    assert specific[30, 20] == 5 and specific[62, 45] == 3 and specific[10, 50] == 0


def test_overlap_keeps_the_larger_class():
    lesions = [make_lesion("calcification", "benign", center=(20, 20), radius=4),
               make_lesion("mass", "benign", center=(20, 20), radius=8)]
    mask = LesionMask(class_map={"mass": 1, "calcification": 2})((40, 40), lesions)[0]
    assert mask[20, 20] == 2 and mask[20, 27] == 1


def test_bad_arguments_name_the_problem():
    with pytest.raises(ValueError, match="lesion_types"):
        LesionMask(lesion_types="tumour")
    with pytest.raises(ValueError, match="class_map key 'tumour'"):
        LesionMask(class_map={"tumour": 1})
    with pytest.raises(ValueError, match="positive integer"):
        LesionMask(class_map={"mass": 0})
    with pytest.raises(ValueError, match="outside the image grid"):
        LesionMask()((20, 20), [make_lesion("mass", "benign", center=(50, 50), radius=3)])
    partly = LesionMask()((20, 20), [make_lesion("mass", "benign", center=(19, 19), radius=3)])
    assert partly[0, 19, 19] == 1  # clipped, not refused
    assert lesion_regions([make_lesion("mass", "benign", center=(50, 50), radius=3)], (20, 20), strict=False) == []


def test_dictionary_version_new_key_keeps_image_geometry():
    image = MetaTensor(torch.zeros(1, 80, 64), affine=torch.diag(torch.tensor([0.05, 0.05, 1.0, 1.0])),
                       meta={"filename_or_obj": "a.dcm"})
    out = LesionMaskd(keys="lesion_mask", lesion_types="mass")({"image": image, "lesions": LESIONS})
    mask = out["lesion_mask"]
    assert isinstance(mask, MetaTensor) and mask.shape == (1, 80, 64)
    assert torch.equal(mask.affine, image.affine) and mask.meta["filename_or_obj"] == "a.dcm"
    assert int(mask.sum()) == int(_disc((80, 64), (30.5, 20.0), 7.5).sum())
    assert out["image"] is image


def test_only_if_missing_fills_label_only_for_items_without_one():
    image = MetaTensor(torch.zeros(1, 80, 64))
    transform = LesionMaskd(keys="label", lesion_types="mass", only_if_missing=True)
    filled = transform({"image": image, "lesions": LESIONS})
    assert filled["label"].shape == (1, 80, 64) and int(filled["label"].sum()) > 0
    filled_none = transform({"image": image, "lesions": LESIONS, "label": None})
    assert filled_none["label"] is not None
    existing = torch.ones(1, 80, 64)
    kept = transform({"image": image, "lesions": LESIONS, "label": existing})
    assert kept["label"] is existing
    assert transform({"image": image, "lesions": LESIONS, "label": "/d/mask.png"})["label"] == "/d/mask.png"


def test_missing_lesions_key():
    with pytest.raises(KeyError, match="lesions"):
        LesionMaskd(keys="lesion_mask")({"image": torch.zeros(1, 8, 8)})
    out = LesionMaskd(keys="lesion_mask", allow_missing_keys=True)({"image": torch.zeros(1, 8, 8)})
    assert "lesion_mask" not in out
    empty = LesionMaskd(keys="lesion_mask")({"image": torch.zeros(1, 8, 8), "lesions": []})
    assert empty["lesion_mask"].shape == (1, 8, 8) and not empty["lesion_mask"].any()


def test_refuses_an_image_no_longer_on_its_original_grid():
    image = torch.zeros(1, 40, 30)
    image[:, :, 20:] = 1.0  # tissue at the right: a right breast, flipped by normalisation
    flipped = NormalizeLateralityd(keys="image")({"image": MetaTensor(image), "laterality": "R"})
    lesions = [make_lesion("mass", "benign", center=(20, 25), radius=3)]
    with pytest.raises(ValueError, match="original pixel grid"):
        LesionMaskd(keys="lesion_mask")({**flipped, "lesions": lesions})
    # the same step recorded as not done (a left breast) leaves the grid alone
    left = NormalizeLateralityd(keys="image")({"image": MetaTensor(image.flip(-1)), "laterality": "L"})
    assert not left["image"].meta["laterality_flipped"]
    assert LesionMaskd(keys="lesion_mask")({**left, "lesions": lesions})["lesion_mask"][0, 20, 25] == 1


def test_mask_drawn_first_travels_with_the_flip():
    image = torch.zeros(1, 40, 30)
    image[:, :, 20:] = 1.0
    lesions = [make_lesion("mass", "benign", center=(20, 25), radius=3)]
    item = LesionMaskd(keys="lesion_mask")({"image": MetaTensor(image), "laterality": "R", "lesions": lesions})
    out = NormalizeLateralityd(keys=["image", "lesion_mask"])(item)
    assert out["lesion_mask"][0, 20, 4] == 1 and out["lesion_mask"][0, 20, 25] == 0
