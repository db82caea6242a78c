"""The MIAS indexer: every Info.txt line form, coordinate flip, masks, pair-level splits, real data counts."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mammo_monai.data.mias import index_mias, mias_patient_id, parse_mias_info
from mammo_monai.data.splits import patient_overlaps

INFO = """
              MAMMOGRAPHIC IMAGE ANALYSIS SOCIETY
=================================================================
4th column: Severity of abnormality;
mdb is the prefix of every reference (this line is free text)
=================================================================
mdb001 G CIRC B 30 40 8
mdb002 D NORM{trailing_space}
mdb003 F CIRC B
mdb004 G CALC M *NOTE 3*
mdb005 F SPIC M 10 90 5
mdb005 F CALC B 50 20 4
mdb006 X NORM
mdb007 F ASYM M 12 34
=================================================================
footer text mdb999
""".format(trailing_space=" ")


def test_parse_every_line_form():
    records, problems = parse_mias_info(INFO)
    got = [(r.reference, r.mias_class, r.severity, r.x, r.y, r.radius, r.note) for r in records]
    assert got == [
        ("mdb001", "CIRC", "B", 30, 40, 8.0, None),
        ("mdb002", "NORM", None, None, None, None, None),
        ("mdb003", "CIRC", "B", None, None, None, None),
        ("mdb004", "CALC", "M", None, None, None, "*NOTE 3*"),
        ("mdb005", "SPIC", "M", 10, 90, 5.0, None),
        ("mdb005", "CALC", "B", 50, 20, 4.0, None),
        ("mdb007", "ASYM", "M", None, None, None, "12 34"),
    ]
    assert [p.kind for p in problems] == ["malformed_line", "malformed_line"]  # bad background; 2-number position
    assert "line" in problems.problems[0].path


def test_patient_id_pairs_left_and_right():
    assert mias_patient_id("mdb001") == mias_patient_id("mdb002") == "mdb001_002"
    assert mias_patient_id("mdb322") == "mdb321_322"


@pytest.fixture
def small_mias(tmp_path):
    root = tmp_path / "mias"
    root.mkdir()
    (root / "Info.txt").write_text(INFO)
    for n in (1, 2, 3, 4, 5, 6, 8):  # 7 is listed but missing; 8 is present but unlisted
        Image.fromarray(np.full((100, 120), n * 10, np.uint8)).save(root / f"mdb{n:03d}.png")
    return root


def test_index_small_folder(small_mias, tmp_path):
    before = sorted(p.name for p in small_mias.iterdir())
    result = index_mias(small_mias, tmp_path / "out" / "mias.json", fractions={"training": 1.0}, progress=False)
    assert sorted(p.name for p in small_mias.iterdir()) == before  # nothing written into the user's folder
    items = {i["image"].rsplit("/", 1)[-1]: i for i in result.datalist["training"]}
    assert sorted(items) == ["mdb001.png", "mdb002.png", "mdb003.png", "mdb004.png", "mdb005.png"]
    one = items["mdb001.png"]
    assert (one["patient_id"], one["laterality"], one["view"], one["pathology"]) == ("mdb001_002", "R", "MLO", "benign")
    lesion = one["lesions"][0]
    assert lesion["center"] == [100 - 40, 30] and lesion["radius"] == 8 and lesion["type"] == "mass"
    assert lesion["box"] == [52, 22, 69, 39]
    mask = np.asarray(Image.open(one["label"]))
    assert mask.shape == (100, 120) and set(np.unique(mask)) == {0, 1}
    assert mask[60, 30] == 1 and mask[60, 39] == 0 and mask[60, 38] == 1
    assert items["mdb002.png"]["pathology"] == "normal" and "label" not in items["mdb002.png"]
    assert items["mdb003.png"]["lesions"][0]["center"] is None and "label" not in items["mdb003.png"]
    assert items["mdb004.png"]["lesions"][0]["note"] == "*NOTE 3*"
    five = items["mdb005.png"]
    assert [lesion["type"] for lesion in five["lesions"]] == ["mass", "calcification"]
    assert five["pathology"] == "malignant"
    assert np.asarray(Image.open(five["label"])).sum() > 0
    # mdb006's only line is malformed, so it is also unlisted; mdb007 is listed but has no file
    assert Counter(p.kind for p in result.problems) == {"malformed_line": 2, "unlisted_image": 2, "missing_file": 1}
    assert any(p.kind == "unlisted_image" and p.path.endswith("mdb008.png") for p in result.problems)
    assert result.problems_path.read_text().count("\n") == len(result.problems) + 1
    saved = json.loads(result.datalist_path.read_text())
    assert saved["training"] == result.datalist["training"]


def test_refuses_to_overwrite(small_mias, tmp_path):
    out = tmp_path / "mias.json"
    index_mias(small_mias, out, progress=False)
    with pytest.raises(FileExistsError, match="mias.json"):
        index_mias(small_mias, out, progress=False)
    index_mias(small_mias, out, progress=False, overwrite=True)


def test_missing_info(tmp_path):
    with pytest.raises(FileNotFoundError, match="Info.txt"):
        index_mias(tmp_path, tmp_path / "x.json")


def test_real_mias_counts(shared_mias, tmp_path):
    """The 216-image developer subset: per-line and per-image counts from its README."""
    result = index_mias(shared_mias, tmp_path / "mias.json", progress=False)
    assert len(result.problems) == 0
    items = [i for split in result.datalist.values() for i in split]
    assert len(items) == 216 and result.summary["patients"] == 108
    classes = Counter(lesion["mias_class"] + lesion["pathology"][0].upper() for i in items for lesion in i["lesions"])
    assert classes == {"CALCB": 11, "CALCM": 9, "CIRCB": 14, "CIRCM": 2, "SPICB": 8, "SPICM": 6, "MISCB": 4,
                       "MISCM": 6, "ARCHB": 6, "ARCHM": 7, "ASYMB": 4, "ASYMM": 5}
    assert Counter(i["pathology"] for i in items) == {"normal": 138, "benign": 44, "malignant": 34}
    assert Counter(i["background_tissue"] for i in items) == {"F": 70, "G": 68, "D": 78}
    assert sum(len(i["lesions"]) > 1 for i in items) == 3  # mdb223, mdb226, mdb249
    assert patient_overlaps(result.datalist) == {}
    for split in ("training", "validation", "test"):
        assert Counter(i["pathology"] for i in result.datalist[split])["malignant"] > 0  # stratified
    # odd = right, even = left; the lesion centre lies inside the breast (brighter than film background)
    for item in items:
        number = int(item["image"][-7:-4])
        assert item["laterality"] == ("R" if number % 2 else "L")
    off_tissue, off_tissue_unflipped = set(), set()
    for item in items:
        img = np.asarray(Image.open(item["image"]))
        for lesion in item["lesions"]:
            if lesion["center"]:
                r, c = (round(v) for v in lesion["center"])
                if img[max(r - 3, 0): r + 4, max(c - 3, 0): c + 4].mean() <= 40:
                    off_tissue.add(item["image"][-10:-4])
                r = 1024 - r  # the wrong convention: Y read as a row
                if img[max(r - 3, 0): r + 4, max(c - 3, 0): c + 4].mean() <= 40:
                    off_tissue_unflipped.add(item["image"][-10:-4])
    # row = 1024 - Y puts every centre on tissue except two calcifications that the MIAS truth itself
    # places at the skin line / on the film (mdb212: value ~4, mdb214: ~11); the unflipped reading misses many
    assert off_tissue == {"mdb212", "mdb214"}
    assert len(off_tissue_unflipped) > len(off_tissue) + 3


@pytest.mark.parametrize("fmt", ["pgm", "png"])
def test_recovers_the_synthetic_ground_truth(tmp_path, fmt):
    from mammo_monai.data.schema import load_datalist
    from mammo_monai.data.synthetic import synthesize_mias

    synth = synthesize_mias(tmp_path / "mias", n_patients=3, size=256, fmt=fmt, seed=1)
    truth = {i["image"]: i for i in load_datalist(synth["ground_truth"])["training"]}
    result = index_mias(synth["root"], tmp_path / "mias.json", progress=False)
    got = {i["image"]: i for split in result.datalist.values() for i in split}
    assert len(result.problems) == 0
    assert {str(Path(k).resolve()) for k in truth} == set(got)
    for image, expected in truth.items():
        item = got[str(Path(image).resolve())]
        for key in ("patient_id", "laterality", "view", "pathology", "background_tissue"):
            assert item[key] == expected[key], (image, key)
        assert len(item["lesions"]) == len(expected["lesions"])
        for lesion, truth_lesion in zip(item["lesions"], expected["lesions"]):
            for key, value in truth_lesion.items():
                assert lesion[key] == value, (image, key)


def test_real_mias_mass_masks_and_lesion_type_strata(shared_mias, tmp_path):
    """For mass segmentation: masks of masses only, and splits that spread the 40 images with a positioned mass
    (29/5/6 with seed 0; by pathology alone 32/2/6, leaving 2 masses to validate on)."""
    result = index_mias(shared_mias, tmp_path / "mias.json", progress=False, stratify="lesion_types",
                        mask_types=["mass"])
    assert patient_overlaps(result.datalist) == {}

    def with_mass(split: str) -> int:
        return sum(any(les["type"] == "mass" and les["center"] for les in i["lesions"])
                   for i in result.datalist[split])

    assert [with_mass(s) for s in ("training", "validation", "test")] == [29, 5, 6]
    items = [i for split in result.datalist.values() for i in split]
    labelled = [i for i in items if i.get("label")]
    assert len(labelled) == 40 and all(any(les["type"] == "mass" for les in i["lesions"]) for i in labelled)
    calc_only = next(i for i in items if {les["type"] for les in i["lesions"]} == {"calcification"})
    assert "label" not in calc_only or not calc_only["label"]
    for item in labelled[:5]:  # the mask is the union of the mass circles
        mask = np.asarray(Image.open(item["label"])) > 0
        r, c = (round(v) for v in next(les["center"] for les in item["lesions"] if les["type"] == "mass"))
        assert mask[r, c]
    with pytest.raises(ValueError, match="mask_types"):
        index_mias(shared_mias, tmp_path / "x.json", progress=False, mask_types=["tumour"])
    with pytest.raises(ValueError, match="stratify"):
        index_mias(shared_mias, tmp_path / "y.json", progress=False, stratify="age")
    assert not (tmp_path / "x_masks").exists() and not (tmp_path / "x.json").exists()  # refused before writing
