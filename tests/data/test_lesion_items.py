"""Per-lesion items for lesion classification."""

from __future__ import annotations

import pytest

from mammo_monai.data.lesion_items import lesion_items


def _item():
    return {"image": "/d/full.dcm", "patient_id": "P1", "laterality": "R", "view": "MLO", "pathology": "malignant",
            "lesions": [
                {"type": "mass", "pathology": "benign", "center": [5, 5], "radius": 2, "box": None,
                 "crop": "/d/c1.dcm"},
                {"type": "calcification", "pathology": "malignant", "center": None, "radius": None,
                 "box": [1, 1, 9, 9], "crop": None},
                {"type": "architectural_distortion", "pathology": "benign", "center": None, "radius": None,
                 "box": None},
            ]}


def test_one_item_per_located_lesion():
    items = lesion_items([_item()])
    assert [(i["lesion_index"], i["type_pathology"]) for i in items] == [(0, "benign_mass"),
                                                                          (1, "malignant_calcification")]
    assert all("lesions" not in i and i["patient_id"] == "P1" and i["image"] == "/d/full.dcm" for i in items)
    assert len(lesion_items([_item()], require_position=False)) == 3
    assert [i["lesion_type"] for i in lesion_items([_item()], lesion_types=["calcification"])] == ["calcification"]


def test_crop_files():
    items = lesion_items([_item()], use_crop_files=True)
    assert len(items) == 1 and items[0]["image"] == "/d/c1.dcm" and items[0]["full_image"] == "/d/full.dcm"


def test_repeat_lesion_images():
    from mammo_monai.data.lesion_items import repeat_lesion_images

    items = [{"image": "a", "lesions": [{"type": "mass", "center": [1, 1]}]},
             {"image": "b", "lesions": [{"type": "calcification", "center": [1, 1]}]},
             {"image": "c", "lesions": [{"type": "mass", "center": None, "box": None}]},
             {"image": "d"}]
    assert [i["image"] for i in repeat_lesion_images(items, ["mass"], 2)] == ["a", "a", "b", "c", "d"]
    assert [i["image"] for i in repeat_lesion_images(items, None, 2)] == ["a", "a", "b", "b", "c", "d"]
    out = repeat_lesion_images(items, ["mass"], 2)
    assert out[0] is not out[1]  # copies: a transform writing into one item does not touch its repeat
    with pytest.raises(ValueError):
        repeat_lesion_images(items, ["mass"], 0)
