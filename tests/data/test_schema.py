"""The datalist schema: vocabularies, derived pathology, atomic no-overwrite writing."""

from __future__ import annotations

import json

import pytest
from monai.data import load_decathlon_datalist

from mammo_monai.data.geometry import lesion_geometry_from_mask
from mammo_monai.data.schema import load_datalist, make_item, make_lesion, normalise_pathology, write_datalist


def test_pathology_vocabulary():
    assert normalise_pathology("BENIGN_WITHOUT_CALLBACK") == "benign"
    assert normalise_pathology("M") == "malignant"
    with pytest.raises(ValueError, match="unknown pathology"):
        normalise_pathology("probably")


def test_lesion_and_item():
    lesion = make_lesion("calcification", "MALIGNANT", center=(10, 20), radius=5, birads=4)
    assert lesion == {"type": "calcification", "pathology": "malignant", "center": [10.0, 20.0], "radius": 5.0,
                      "box": [5, 15, 16, 26], "birads": 4}
    item = make_item("/x.dcm", "P_1", "LEFT", "cc", [lesion, make_lesion("mass", "benign")])
    assert (item["laterality"], item["view"], item["pathology"]) == ("L", "CC", "malignant")
    assert make_item("/y.dcm", "P_2", "R", "MLO")["pathology"] == "normal"
    assert make_item("/y.dcm", "P_2", "R", "MLO", annotated=False)["pathology"] is None
    with pytest.raises(ValueError, match="lesion type"):
        make_lesion("cyst", "benign")
    with pytest.raises(ValueError, match="laterality"):
        make_item("/x.dcm", "P", "both", "CC")
    with pytest.raises(ValueError, match="box"):
        make_lesion("mass", "benign", box=[5, 5, 5, 9])


def test_geometry_from_mask():
    import numpy as np

    mask = np.zeros((20, 30), np.uint8)
    mask[4:9, 10:13] = 255
    center, radius, box = lesion_geometry_from_mask(mask)
    assert center == [6.0, 11.0] and box == [4, 10, 9, 13] and radius == pytest.approx(np.hypot(2, 1), abs=1e-4)
    with pytest.raises(ValueError, match="empty"):
        lesion_geometry_from_mask(np.zeros((3, 3)))


def test_write_is_atomic_and_never_overwrites(tmp_path):
    datalist = {"training": [make_item(tmp_path / "a.dcm", "P1", "L", "CC")], "test": []}
    path = write_datalist(datalist, tmp_path / "d.json")
    with pytest.raises(FileExistsError, match="d.json"):
        write_datalist(datalist, path)
    write_datalist({"test": []}, path, overwrite=True)
    assert json.loads(path.read_text()) == {"test": []}
    assert [p.name for p in tmp_path.iterdir()] == ["d.json"]  # no temporary file left behind
    with pytest.raises(ValueError, match="unknown split"):
        write_datalist({"train": []}, tmp_path / "e.json")


def test_monai_reads_our_datalist(tmp_path):
    datalist = {"training": [make_item(tmp_path / "a.dcm", "P1", "L", "CC", label=tmp_path / "a.png")]}
    path = write_datalist(datalist, tmp_path / "d.json")
    items = load_decathlon_datalist(str(path), data_list_key="training")
    assert items[0]["image"] == str(tmp_path / "a.dcm") and items[0]["label"] == str(tmp_path / "a.png")
    assert load_datalist(path)["validation"] == []
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="not a datalist"):
        load_datalist(tmp_path / "bad.json")
