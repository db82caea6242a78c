"""The CBIS-DDSM indexer: exact recovery of a synthetic download's ground truth in both TCIA layouts, every
problem kind on a broken copy, and the real CSVs / real DICOMs from ``../shared/data``."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image

import mammo_monai.data.cbis_ddsm as cbis
from mammo_monai.data.cbis_ddsm import (
    binary_mask,
    index_cbis_ddsm,
    parse_case_folder,
    read_case_descriptions,
    read_roi_mask,
    scan_dicom_tree,
)
from mammo_monai.data.schema import load_datalist
from mammo_monai.data.splits import assert_patient_disjoint
from mammo_monai.data.synthetic import synthesize_cbis_ddsm
from mammo_monai.io.compat import save_dataset

LAYOUTS = ("tcia", "descriptive")
ITEM_KEYS = ("image", "patient_id", "laterality", "view", "pathology", "alt_images")


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> dict[str, dict]:
    """One small synthetic download per layout (6 women, 12 mammograms, 16 lesions, ~0.5 s each)."""
    base = tmp_path_factory.mktemp("cbis_synth")
    return {layout: synthesize_cbis_ddsm(base / layout, n_patients=6, seed=0, layout=layout) for layout in LAYOUTS}


def _all_items(datalist: dict) -> list[dict]:
    return [item for split in ("training", "validation", "test") for item in datalist.get(split, [])]


def _lesion_files(root: Path, case: str) -> tuple[Path, Path]:
    """``(mask, crop)`` of a lesion case folder, told apart by content."""
    files = sorted((root / case).rglob("*.dcm"))
    assert len(files) == 2, files
    masks = [f for f in files if read_roi_mask(f, None) is not None]
    assert len(masks) == 1, files
    return masks[0], next(f for f in files if f != masks[0])


def _full_file(root: Path, case: str) -> Path:
    files = sorted((root / case).rglob("*.dcm"))
    assert len(files) == 1, files
    return files[0]


def _rewrite(path: Path, arr: np.ndarray, **attributes) -> None:
    """Replace a DICOM's pixels (uncompressed afterwards), keeping its UIDs unless ``attributes`` change them."""
    ds = pydicom.dcmread(path)
    bits = 8 if arr.dtype == np.uint8 else 16
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    ds.Rows, ds.Columns = arr.shape
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelData = np.ascontiguousarray(arr).tobytes()
    ds["PixelData"].VR = "OB" if bits == 8 else "OW"
    for key, value in attributes.items():
        setattr(ds, key, value)
    save_dataset(ds, path)


def _truncate(path: Path, keep: float = 0.6) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


# ------------------------------------------------------------------------------------------------ unit


def test_parse_case_folder_and_binary_mask():
    assert parse_case_folder("Calc-Test_P_00038_RIGHT_MLO_3") == {
        "abnormality": "calc", "split": "test", "patient_id": "P_00038", "laterality": "R", "view": "MLO",
        "abnormality_id": 3,
    }
    assert parse_case_folder("Mass-Training_P_00001_LEFT_CC")["abnormality_id"] is None
    for name in ("1-1.dcm", "07-20-2016-DDSM-74994", "Mass-Train_P_00001_LEFT_CC", "CBIS-DDSM"):
        assert parse_case_folder(name) is None
    assert binary_mask(np.array([[0, 255], [255, 0]], np.uint8)).tolist() == [[False, True], [True, False]]
    assert binary_mask(np.array([[0, 1], [2, 0]])) is None  # three values: a crop
    assert binary_mask(np.array([[5, 5], [5, 5]])) is not None  # one positive value everywhere
    assert binary_mask(np.zeros((3, 3))) is None  # empty
    assert binary_mask(np.array([[-1, 0], [0, 2]])) is None


# ------------------------------------------------------------------------------------------------ CSVs


def test_read_case_descriptions_synthetic(synthetic):
    csv_dir = Path(synthetic["tcia"]["csv_dir"])
    rows, problems = read_case_descriptions(csv_dir)
    assert len(rows) == synthetic["tcia"]["n_lesions"] and len(problems) == 0
    assert {r.table for r in rows} == {"mass_train", "mass_test", "calc_train", "calc_test"}
    for row in rows:
        assert row.density in (1, 2, 3, 4)  # both column spellings
        for path in (row.image_path, row.crop_path, row.mask_path):
            assert path == path.strip() and "\n" not in path and path.endswith(".dcm")
        assert row.lesion_case == f"{row.case}_{row.abnormality_id}"
        assert row.where == f"{row.csv_name}:row {row.row}"
    mass, _ = read_case_descriptions(csv_dir, "mass")
    assert {r.abnormality for r in mass} == {"mass"} and len(mass) == sum(r.abnormality == "mass" for r in rows)

    partial = csv_dir.parent / "csv_partial"
    shutil.copytree(csv_dir, partial)
    (partial / "calc_case_description_test_set.csv").unlink()
    rows2, problems2 = read_case_descriptions(partial)
    assert problems2.counts() == {"missing_csv": 1}
    assert "calc_case_description_test_set.csv" in problems2.problems[0].path
    assert len(rows2) == len(rows) - sum(r.table == "calc_test" for r in rows)
    with pytest.raises(FileNotFoundError, match="CSV folder not found"):
        read_case_descriptions(partial.parent / "nope")
    (partial / "calc_case_description_train_set.csv").unlink()
    with pytest.raises(FileNotFoundError, match="none of the CBIS-DDSM"):
        read_case_descriptions(partial, "calc")
    with pytest.raises(ValueError, match="abnormality"):
        read_case_descriptions(csv_dir, "masses")
    shutil.rmtree(partial)


# ------------------------------------------------------------------------------------------------ synthetic


@pytest.mark.parametrize("layout", LAYOUTS)
def test_recovers_synthetic_ground_truth(synthetic, tmp_path, layout, monkeypatch):
    info = synthetic[layout]
    truth = load_datalist(info["ground_truth"])
    decoded: list[str] = []
    real_read = cbis.read_dicom_mammogram

    def spy(path, *args, **kwargs):
        decoded.append(os.path.abspath(path))
        return real_read(path, *args, **kwargs)

    monkeypatch.setattr(cbis, "read_dicom_mammogram", spy)
    out = tmp_path / "out" / "cbis.json"
    result = index_cbis_ddsm(info["image_dir"], info["csv_dir"], out, progress=False)
    decoded = list(decoded)
    monkeypatch.undo()

    assert len(result.problems) == 0, [str(p) for p in result.problems]
    assert result.datalist_path == out and load_datalist(out) == result.datalist
    assert result.problems_path == out.with_name("cbis_problems.csv")
    assert result.problems_path.read_text().strip() == "path,kind,detail"

    expected = {it["image"]: it for it in _all_items(truth)}
    got = {it["image"]: it for it in _all_items(result.datalist)}
    assert set(got) == set(expected)
    masks_dir = out.parent / "cbis_masks"
    for image, want in expected.items():
        item = got[image]
        for key in ITEM_KEYS:
            assert item[key] == want[key], (image, key)
        assert item["official_split"] == want["source_split"]
        assert len(item["lesions"]) == len(want["lesions"])
        for lesion, want_lesion in zip(item["lesions"], want["lesions"]):
            for key, value in want_lesion.items():
                assert lesion[key] == value, (image, key)
            # the lesion's files: an ROI mask (binary, full size) and a crop, told apart by content
            mask = read_roi_mask(lesion["mask"], None)
            assert mask is not None and lesion["crop"] != lesion["mask"]
            assert read_roi_mask(lesion["crop"], None) is None
        # the merged mask: 0/1, the image's size, the union of the lesion masks
        label = Path(item["label"])
        assert label.parent == masks_dir
        assert label.name == f"{item['patient_id']}_{'LEFT' if item['laterality'] == 'L' else 'RIGHT'}_" \
                             f"{item['view']}_mask.png"
        arr = np.asarray(Image.open(label))
        assert arr.dtype == np.uint8 and set(np.unique(arr)) <= {0, 1}
        assert arr.shape == tuple(pydicom.dcmread(image, stop_before_pixels=True)[k].value for k in ("Rows", "Columns"))
        assert int(np.count_nonzero(arr)) == want["mask_pixels"]
        assert item["cbis_cases"][0] == Path(image).relative_to(info["image_dir"]).parts[0]

    # patients: test vs the rest exactly as the ground truth, never a woman on both sides
    def patients(items):
        return {it["patient_id"] for it in items}

    assert patients(result.datalist["test"]) == patients(truth["test"])
    assert patients(result.datalist["training"] + result.datalist["validation"]) == patients(truth["training"])
    assert_patient_disjoint(result.datalist)
    assert result.summary["patients_moved_to_test"] == 1  # patient 2: mass-train and calc-test
    assert result.summary["patients_crossing_official_split"] == 1
    assert result.summary["images"] == info["n_images"] and result.summary["lesions_total"] == info["n_lesions"]
    assert result.summary["images_with_alt_images"] == 1 and result.summary["problems"] == {}

    # speed: headers only, except full-size files (the ROI masks); no full image and no crop is decoded
    crops = {les["crop"] for it in _all_items(result.datalist) for les in it["lesions"]}
    masks = {les["mask"] for it in _all_items(result.datalist) for les in it["lesions"]}
    assert set(decoded) == masks and len(decoded) == len(masks) and not crops & set(decoded)

    # never writes into the image tree; refuses to overwrite
    with pytest.raises(FileExistsError, match="cbis.json"):
        index_cbis_ddsm(info["image_dir"], info["csv_dir"], out, progress=False)
    out.unlink()
    with pytest.raises(FileExistsError, match="_mask.png"):
        index_cbis_ddsm(info["image_dir"], info["csv_dir"], out, progress=False)
    again = index_cbis_ddsm(info["image_dir"], info["csv_dir"], out, overwrite=True, progress=False)
    assert again.datalist == result.datalist
    with pytest.raises(ValueError, match="inside the input folder"):
        index_cbis_ddsm(info["image_dir"], info["csv_dir"], Path(info["image_dir"]) / "x.json", progress=False)


def test_abnormality_subset_and_validation_split(tmp_path):
    info = synthesize_cbis_ddsm(tmp_path / "synth", n_patients=14, seed=3)
    res = index_cbis_ddsm(info["image_dir"], info["csv_dir"], tmp_path / "all.json", val_fraction=0.3, seed=1,
                          progress=False)
    assert res.datalist["validation"] and res.datalist["training"]
    assert_patient_disjoint(res.datalist)
    assert res.summary["splits"]["validation"]["images"] == len(res.datalist["validation"])
    again = index_cbis_ddsm(info["image_dir"], info["csv_dir"], tmp_path / "again.json", val_fraction=0.3, seed=1,
                            progress=False)
    assert [it["image"] for it in again.datalist["validation"]] == [it["image"] for it in res.datalist["validation"]]

    mass = index_cbis_ddsm(info["image_dir"], info["csv_dir"], tmp_path / "mass.json", abnormality="mass",
                           val_fraction=0.0, masks_dir=tmp_path / "mass_masks", progress=False)
    assert len(mass.problems) == 0  # the calc files are not "unmatched": their tables were not asked for
    lesions = [les for it in _all_items(mass.datalist) for les in it["lesions"]]
    assert lesions and {les["type"] for les in lesions} == {"mass"}
    assert all(it["alt_images"] == [] for it in _all_items(mass.datalist))
    assert all(Path(it["label"]).parent == tmp_path / "mass_masks" for it in _all_items(mass.datalist))
    assert not mass.datalist["validation"]
    with pytest.raises(ValueError, match="val_fraction"):
        index_cbis_ddsm(info["image_dir"], info["csv_dir"], tmp_path / "x.json", val_fraction=1.0, progress=False)


def _rewrite_csv(path: Path, edit) -> None:
    """Parse a CBIS CSV, let ``edit(records)`` change it, write it back with CRLF (quirky newlines kept)."""
    with open(path, newline="") as f:
        records = list(csv.reader(f))
    edit(records)
    buf = io.StringIO(newline="")
    csv.writer(buf, lineterminator="\r\n").writerows(records)
    path.write_bytes(buf.getvalue().encode())


def test_reports_every_problem_and_indexes_the_rest(synthetic, tmp_path):
    src = Path(synthetic["tcia"]["root"])
    base = tmp_path / "broken"
    shutil.copytree(src, base)
    root, csv_dir = base / "CBIS-DDSM", base / "csv"
    truth = load_datalist(base / "ground_truth.json")
    rows, _ = read_case_descriptions(csv_dir)

    def where(case: str, abnormality_id: int = 1) -> str:
        return next(r.where for r in rows if r.case == case and r.abnormality_id == abnormality_id)

    # a deleted ROI mask (one of two lesions of an image)
    deleted_mask, _ = _lesion_files(root, "Mass-Training_P_00003_RIGHT_CC_2")
    deleted_mask.unlink()
    # a deleted full image
    deleted_full = _full_file(root, "Mass-Test_P_00011_RIGHT_MLO")
    deleted_full.unlink()
    # an ROI mask replaced by a binary one of the wrong size (same UIDs)
    small_mask, _ = _lesion_files(root, "Mass-Training_P_00003_RIGHT_MLO_1")
    small = np.zeros((200, 100), np.uint8)
    small[50:80, 20:60] = 255
    _rewrite(small_mask, small)
    # an ROI mask replaced by a full-size image that is not binary
    grey_mask, _ = _lesion_files(root, "Calc-Training_P_00012_LEFT_CC_1")
    _rewrite(grey_mask, (np.arange(512 * 320) % 200).astype(np.uint8).reshape(512, 320))
    # truncated files: a full image and an ROI mask
    truncated_full = _full_file(root, "Mass-Test_P_00009_LEFT_CC")
    _truncate(truncated_full)
    truncated_mask, _ = _lesion_files(root, "Calc-Training_P_00006_RIGHT_CC_3")
    _truncate(truncated_mask)
    # a file that is not DICOM at all, and a valid DICOM no row lists
    (root / "junk").mkdir()
    garbage = root / "junk" / "1-1.dcm"
    garbage.write_bytes(b"not a dicom file" * 20)
    unrelated = root / "junk" / "1-2.dcm"
    shutil.copy(_lesion_files(root, "Mass-Test_P_00011_RIGHT_CC_1")[1], unrelated)
    _rewrite(unrelated, np.full((64, 64), 7, np.uint16), StudyInstanceUID=pydicom.uid.generate_uid(),
             SeriesInstanceUID=pydicom.uid.generate_uid(), PatientID="ANON")
    # the calc copy of a view in both tables, at another size
    alt_full = _full_file(root, "Calc-Training_P_00001_LEFT_CC")
    _rewrite(alt_full, np.full((500, 300), 1000, np.uint16))
    # a duplicated CSV row and an out-of-range subtlety
    calc_train = csv_dir / "calc_case_description_train_set.csv"
    _rewrite_csv(calc_train, lambda recs: recs.append(list(recs[1])))
    n_calc_train = sum(r.table == "calc_train" for r in rows)
    mass_test = csv_dir / "mass_case_description_test_set.csv"
    out_of_range = where("Mass-Test_P_00011_RIGHT_CC")
    number = int(out_of_range.rsplit(" ", 1)[1])

    def zero_subtlety(recs):
        recs[number][recs[0].index("subtlety")] = "0"

    _rewrite_csv(mass_test, zero_subtlety)

    out = tmp_path / "out" / "broken.json"
    res = index_cbis_ddsm(root, csv_dir, out, progress=False)
    found = {(p.kind, p.path) for p in res.problems}
    details = {(p.kind, p.path): p.detail for p in res.problems}

    expected = {
        ("missing_file", where("Mass-Training_P_00003_RIGHT_CC", 2)),
        ("missing_file", where("Mass-Test_P_00011_RIGHT_MLO")),
        ("mask_size_mismatch", str(small_mask)),
        ("no_mask_found", where("Calc-Training_P_00012_LEFT_CC")),
        ("unreadable_dicom", str(truncated_full)),
        ("unreadable_dicom", str(truncated_mask)),
        ("unreadable_dicom", str(garbage)),
        ("unmatched_dicom", str(unrelated)),
        ("alt_image_size_mismatch", str(alt_full)),
        ("mask_size_mismatch", str(_lesion_files(root, "Calc-Training_P_00001_LEFT_CC_1")[0])),
        ("duplicate_row", f"calc_case_description_train_set.csv:row {n_calc_train + 1}"),
        ("out_of_range_value", out_of_range),
    }
    assert found == expected, sorted(found ^ expected)
    assert len(res.problems) == len(expected)
    assert details[("unreadable_dicom", str(truncated_full))].startswith(str(truncated_full))  # MammogramReadError
    assert where("Mass-Test_P_00009_LEFT_CC") in details[("unreadable_dicom", str(truncated_full))]
    assert "subtlety = 0" in details[("out_of_range_value", out_of_range)]
    written = list(csv.DictReader(open(res.problems_path)))
    assert len(written) == len(expected) and {(r["kind"], r["path"]) for r in written} == expected

    got = {(it["patient_id"], it["laterality"], it["view"]): it for it in _all_items(res.datalist)}
    want = {(it["patient_id"], it["laterality"], it["view"]): it for it in _all_items(truth)}
    # the unusable full images are left out, everything else is indexed
    assert set(want) - set(got) == {("P_00011", "R", "MLO"), ("P_00009", "L", "CC")}
    by_id = {k: {les["abnormality_id"]: les for les in it["lesions"]} for k, it in got.items()}
    two = by_id[("P_00003", "R", "CC")]
    assert two[1]["box"] is not None and two[2]["box"] is None and two[2]["mask"] is None
    assert two[2]["crop"] is not None  # its crop is still there
    assert "label" in got[("P_00003", "R", "CC")]
    assert by_id[("P_00003", "R", "MLO")][1]["box"] is None and by_id[("P_00003", "R", "MLO")][1]["mask"] == str(
        small_mask)
    assert "label" not in got[("P_00003", "R", "MLO")] and "label" not in got[("P_00012", "L", "CC")]
    three = by_id[("P_00006", "R", "CC")]
    assert three[3]["box"] is None and three[1]["box"] is not None and three[2]["box"] is not None
    merged = got[("P_00001", "L", "CC")]
    assert merged["alt_images"] == [str(alt_full)]
    assert [les["type"] for les in merged["lesions"]] == ["mass", "calcification"]
    assert merged["lesions"][0]["box"] is not None and merged["lesions"][1]["box"] is None
    assert by_id[("P_00011", "R", "CC")][1]["subtlety"] == 0  # kept as given
    # labels hold exactly the usable lesions
    arr = np.asarray(Image.open(got[("P_00003", "R", "CC")]["label"]))
    first = read_roi_mask(two[1]["mask"], None)
    assert np.array_equal(arr.astype(bool), first)
    # the untouched items are recovered exactly
    untouched = {("P_00001", "L", "MLO"), ("P_00006", "L", "MLO"), ("P_00003", "L", "MLO"), ("P_00009", "L", "MLO")}
    for key in untouched:
        assert [les["box"] for les in got[key]["lesions"]] == [les["box"] for les in want[key]["lesions"]]
    assert res.summary["problems"] == res.problems.counts()


# ------------------------------------------------------------------------------------------------ real data


REAL_TABLES = {
    "mass_train": (1318, {"MALIGNANT": 637, "BENIGN": 577, "BENIGN_WITHOUT_CALLBACK": 104}),
    "mass_test": (378, {"MALIGNANT": 147, "BENIGN": 194, "BENIGN_WITHOUT_CALLBACK": 37}),
    "calc_train": (1546, {"MALIGNANT": 544, "BENIGN": 528, "BENIGN_WITHOUT_CALLBACK": 474}),
    "calc_test": (326, {"MALIGNANT": 129, "BENIGN": 130, "BENIGN_WITHOUT_CALLBACK": 67}),
}


@pytest.mark.shared
def test_real_case_descriptions(shared_cbis_csv):
    rows, problems = read_case_descriptions(shared_cbis_csv)
    for table, (count, pathologies) in REAL_TABLES.items():
        mine = [r for r in rows if r.table == table]
        assert len(mine) == count
        got = {p: sum(r.pathology == p for r in mine) for p in pathologies}
        assert got == pathologies
    assert problems.counts() == {"out_of_range_value": 4}
    subtlety = [p for p in problems if "subtlety = 0" in p.detail]
    density = [p for p in problems if "breast density = 0" in p.detail]
    assert len(subtlety) == 2 and all(p.path.startswith("mass_case_description_train_set.csv:row ") for p in subtlety)
    assert len(density) == 2 and all(p.path.startswith("calc_case_description_test_set.csv:row ") for p in density)
    for row in rows:
        for path in (row.image_path, row.crop_path, row.mask_path):
            assert path and not any(c.isspace() for c in path)
        assert row.image_uids is not None and row.density is not None and row.abnormality_id >= 1
    assert {r.patient_id for r in rows if r.abnormality == "mass"} & {r.patient_id for r in rows if
                                                                      r.abnormality == "calc"}
    assert len({r.patient_id for r in rows}) == 1566


@pytest.mark.shared
def test_real_dicoms_match_their_rows(shared_dicom, shared_cbis_csv, tmp_path):
    """The four real Mass-Test P_00173 mammograms (4400 x 2900 RLE) in a TCIA tree, with the real CSVs:
    matched by UIDs, their (absent) crops and masks reported, no pixel decoded."""
    files = sorted((shared_dicom / "cbis-ddsm").glob("Mass-Test_P_00173_*.dcm"))
    assert len(files) == 4
    root = tmp_path / "tree"
    for f in files:
        ds = pydicom.dcmread(f, stop_before_pixels=True)
        folder = root / f.stem / ds.StudyInstanceUID / ds.SeriesInstanceUID
        folder.mkdir(parents=True)
        (folder / "1-1.dcm").symlink_to(f)
    res = index_cbis_ddsm(root, shared_cbis_csv, tmp_path / "real.json", progress=False)
    items = _all_items(res.datalist)
    assert len(items) == 4 and len(res.datalist["test"]) == 4
    by_view = {(it["laterality"], it["view"]): it for it in items}
    assert set(by_view) == {("L", "CC"), ("L", "MLO"), ("R", "CC"), ("R", "MLO")}
    for (side, view), item in by_view.items():
        case = f"Mass-Test_P_00173_{'LEFT' if side == 'L' else 'RIGHT'}_{view}"
        assert item["image"].startswith(str(root / case)) and item["patient_id"] == "P_00173"
        assert item["cbis_cases"] == [case] and item["official_split"] == "test" and "label" not in item
        assert item["pathology"] == "benign"
        for lesion in item["lesions"]:
            assert lesion["type"] == "mass" and lesion["source_pathology"] == "BENIGN"
            assert lesion["box"] is None and lesion["mask"] is None and lesion["crop"] is None
            assert lesion["birads"] == 3 and lesion["density"] == 2
    assert [len(by_view[k]["lesions"]) for k in sorted(by_view)] == [1, 1, 2, 2]
    assert [les["shape"] for les in by_view[("R", "CC")]["lesions"]] == ["OVAL", "LOBULATED"]
    # the 6 rows of P_00173: crop and ROI mask missing (one shared series each); every other row: its full image
    mass_test = [p for p in res.problems if p.kind == "missing_file" and
                 p.path.startswith("mass_case_description_test_set.csv")]
    lesion_missing = [p for p in mass_test if "P_00173" in p.detail]
    assert len(lesion_missing) == 12
    assert {p.detail.split(" ", 4)[0] for p in lesion_missing} <= {"cropped", "ROI"}
    assert set(res.problems.counts()) == {"missing_file", "out_of_range_value"}
    # one per other row (its full image; its crop and mask are not reported on top)
    assert res.problems.counts()["missing_file"] == sum(n for n, _ in REAL_TABLES.values()) - 6 + 12
    assert not {p.path for p in res.problems} & {str(p) for p in root.rglob("*.dcm")}
    assert res.summary["patients_crossing_official_split"] == 31  # README: 13 + 18
    assert res.summary["patients_moved_to_test"] == 0  # P_00173 is in mass-test only


def test_scan_skips_non_dicom_and_reports_unreadable(tmp_path, synthetic):
    root = tmp_path / "tree"
    root.mkdir()
    src = next(Path(synthetic["tcia"]["image_dir"]).rglob("1-1.dcm"))
    shutil.copy(src, root / "a.dcm")
    shutil.copy(src, root / "noext")  # DICOM without suffix: found by its preamble
    (root / "LICENSE").write_text("text")
    (root / "._a.dcm").write_bytes(b"\0" * 300)  # macOS resource fork: hidden, skipped
    (root / "bad.dcm").write_bytes(b"\0" * 300)
    records = {Path(r.path).name: r for r in scan_dicom_tree(root, progress=False)}
    assert set(records) == {"a.dcm", "noext", "bad.dcm"}
    assert records["a.dcm"].error is None and records["a.dcm"].case == records["noext"].case
    assert records["bad.dcm"].error and "bad.dcm" in records["bad.dcm"].error
    with pytest.raises(FileNotFoundError):
        scan_dicom_tree(tmp_path / "missing", progress=False)
    assert json.loads(json.dumps([r.shape for r in records.values()]))  # plain types
