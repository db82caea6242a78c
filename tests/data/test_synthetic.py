"""Tests of the synthetic CBIS-DDSM and MIAS generators (mammo_monai.data.synthetic).

The CBIS checks re-derive the ground truth the way an indexer has to: match CSV rows to files by case folder
+ Study/Series UIDs read from the DICOM headers, and tell the ROI mask from the crop by its content.
"""

from __future__ import annotations

import csv
import filecmp
import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.uid import ExplicitVRLittleEndian, RLELossless, SecondaryCaptureImageStorage

from mammo_monai.data.geometry import lesion_geometry_from_mask
from mammo_monai.data.schema import load_datalist
from mammo_monai.data.synthetic import synthesize_cbis_ddsm, synthesize_mias

MASS_HEADER = (
    "patient_id,breast_density,left or right breast,image view,abnormality id,abnormality type,mass shape,"
    "mass margins,assessment,pathology,subtlety,image file path,cropped image file path,ROI mask file path"
)
CALC_HEADER = (
    "patient_id,breast density,left or right breast,image view,abnormality id,abnormality type,calc type,"
    "calc distribution,assessment,pathology,subtlety,image file path,cropped image file path,ROI mask file path"
)
CSV_FILES = {
    "mass_case_description_train_set.csv": ("Mass", "Training"),
    "mass_case_description_test_set.csv": ("Mass", "Test"),
    "calc_case_description_train_set.csv": ("Calc", "Training"),
    "calc_case_description_test_set.csv": ("Calc", "Test"),
}
FULL_CASE = re.compile(r"^(Mass|Calc)-(Training|Test)_P_\d{5}_(LEFT|RIGHT)_(CC|MLO)$")
ABN_CASE = re.compile(r"^(Mass|Calc)-(Training|Test)_P_\d{5}_(LEFT|RIGHT)_(CC|MLO)_\d+$")


@pytest.fixture(scope="module")
def cbis(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return synthesize_cbis_ddsm(tmp_path_factory.mktemp("cbis") / "out")


@pytest.fixture(scope="module")
def mias(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return synthesize_mias(tmp_path_factory.mktemp("mias") / "out")


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _read_csvs(csv_dir: Path) -> dict[str, list[dict[str, str]]]:
    out = {}
    for name in CSV_FILES:
        with open(csv_dir / name, newline="") as f:
            out[name] = list(csv.DictReader(f))
    return out


def _index(summary: dict[str, Any]) -> dict[str, Any]:
    """A minimal indexer: resolve every CSV row to its full image, ROI mask and crop on disk."""
    files: dict[tuple[str, str, str], list[Path]] = defaultdict(list)
    headers: dict[Path, pydicom.Dataset] = {}
    for p in sorted(Path(summary["image_dir"]).rglob("*.dcm")):
        ds = pydicom.dcmread(p, stop_before_pixels=True)
        case = p.relative_to(summary["image_dir"]).parts[0]
        assert ds.PatientID == case == str(ds.PatientName)
        files[(case, ds.StudyInstanceUID, ds.SeriesInstanceUID)].append(p)
        headers[p] = ds

    def key(csv_path: str) -> tuple[str, str, str]:
        case, study, series, _ = csv_path.strip().split("/")
        return case, study, series

    rows = []
    for name, table in _read_csvs(Path(summary["csv_dir"])).items():
        for row in table:
            (full,) = files[key(row["image file path"])]
            candidates = sorted(
                set(files[key(row["cropped image file path"])]) | set(files[key(row["ROI mask file path"])])
            )
            assert len(candidates) == 2, candidates
            full_shape = (headers[full].Rows, headers[full].Columns)
            masks = [
                p
                for p in candidates
                if headers[p].BitsAllocated == 8 and (headers[p].Rows, headers[p].Columns) == full_shape
            ]
            assert len(masks) == 1
            (crop,) = [p for p in candidates if p != masks[0]]
            rows.append({"table": name, "row": row, "full": full, "mask": masks[0], "crop": crop})
    return {"rows": rows, "headers": headers}


# --------------------------------------------------------------------------------------------------- CBIS


def test_cbis_summary_and_all_csvs(cbis: dict[str, Any]) -> None:
    assert cbis["n_patients"] == 6
    csv_dir = Path(cbis["csv_dir"])
    assert sorted(p.name for p in csv_dir.iterdir()) == sorted(CSV_FILES)
    tables = _read_csvs(csv_dir)
    assert sum(len(t) for t in tables.values()) == cbis["n_lesions"]
    assert all(len(t) > 0 for t in tables.values())  # every table is used with the default 6 patients
    gt = load_datalist(cbis["ground_truth"])
    assert len(gt["training"]) + len(gt["test"]) == cbis["n_images"]
    assert gt["validation"] == []
    assert sum(len(i["lesions"]) for s in ("training", "test") for i in gt[s]) == cbis["n_lesions"]


def test_cbis_csv_format(cbis: dict[str, Any]) -> None:
    for name, (family, _) in CSV_FILES.items():
        raw = (Path(cbis["csv_dir"]) / name).read_bytes()
        header = MASS_HEADER if family == "Mass" else CALC_HEADER
        assert raw.startswith(header.encode() + b"\r\n")
        # every record ends with CRLF; the only bare LFs are the in-quote newlines of one path column
        n_rows = len(_read_csvs(Path(cbis["csv_dir"]))[name])
        assert raw.endswith(b"\r\n") and raw.count(b"\r\n") == n_rows + 1
        assert raw.count(b"\n") == 2 * n_rows + 1
        assert raw.count(b'\n"') == n_rows
        with open(Path(cbis["csv_dir"]) / name, newline="") as f:
            reader = csv.reader(f)
            assert next(reader) == header.split(",")
            for row in reader:
                rec = dict(zip(header.split(","), row))
                quirk = "ROI mask file path" if family == "Mass" else "cropped image file path"
                assert rec[quirk].endswith(".dcm\n")
                for col in ("image file path", "cropped image file path", "ROI mask file path"):
                    case, study, series, fname = rec[col].strip().split("/")
                    assert fname in ("000000.dcm", "000001.dcm")
                    assert (FULL_CASE if col == "image file path" else ABN_CASE).match(case)
                    assert case.startswith(f"{family}-")
                    assert re.fullmatch(r"[\d.]+", study) and re.fullmatch(r"[\d.]+", series)
                assert rec["pathology"] in ("MALIGNANT", "BENIGN", "BENIGN_WITHOUT_CALLBACK")
                assert 0 <= int(rec["assessment"]) <= 5 and 1 <= int(rec["subtlety"]) <= 5
                density = rec["breast_density"] if family == "Mass" else rec["breast density"]
                assert 1 <= int(density) <= 4
                assert rec["abnormality type"] == ("mass" if family == "Mass" else "calcification")
    tables = _read_csvs(Path(cbis["csv_dir"]))
    values = [r[c] for t in tables.values() for r in t for c in ("mass margins", "calc distribution") if c in r]
    assert "" in values  # some empty descriptors, as in the real tables


def test_cbis_dicom_headers_and_pixels(cbis: dict[str, Any]) -> None:
    root = Path(cbis["image_dir"])
    photometrics, syntaxes, n_full = set(), set(), 0
    for p in sorted(root.rglob("*.dcm")):
        assert p.name in ("1-1.dcm", "1-2.dcm")
        ds = pydicom.dcmread(p)
        case = p.relative_to(root).parts[0]
        assert ds.SOPClassUID == SecondaryCaptureImageStorage and ds.Modality == "MG"
        assert ds.BodyPartExamined == "BREAST"
        assert "ImageLaterality" not in ds and "ViewPosition" not in ds
        side, view = re.search(r"_(LEFT|RIGHT)_(CC|MLO)", case).groups()
        assert ds.Laterality == side[0] and ds.PatientOrientation == view
        assert ds.PixelRepresentation == 0
        arr = ds.pixel_array
        syntaxes.add(ds.file_meta.TransferSyntaxUID)
        if FULL_CASE.match(case):
            n_full += 1
            photometrics.add(ds.PhotometricInterpretation)
            assert arr.shape == (512, 320) and arr.dtype == np.uint16
            assert (ds.BitsAllocated, ds.BitsStored, ds.HighBit) == (16, 16, 15)
            img = 65535 - arr if ds.PhotometricInterpretation == "MONOCHROME1" else arr
            assert np.percentile(img, 10) < 1000  # film background near 0 ...
            assert 40000 < int(img.max()) <= 62000  # ... and dense tissue / calcifications / labels near 60000
            # the chest wall is on the image's left for a left breast, on the right for a right breast
            left, right = img[:, :80].mean(), img[:, -80:].mean()
            assert (left > right) if side == "LEFT" else (right > left)
        else:
            assert ABN_CASE.match(case)
            assert ds.PhotometricInterpretation == "MONOCHROME2"
    assert n_full == sum(1 for _ in root.glob("*/*/*/1-1.dcm") if FULL_CASE.match(_.parts[-4]))
    assert photometrics == {"MONOCHROME1", "MONOCHROME2"}
    assert {RLELossless, ExplicitVRLittleEndian} <= syntaxes


def _check_ground_truth(cbis: dict[str, Any]) -> set[bool]:
    """Check every ROI mask, crop and ground-truth lesion; return which values "1-1.dcm is the mask" took."""
    index = _index(cbis)
    gt = load_datalist(cbis["ground_truth"])
    items = {(i["patient_id"], i["laterality"], i["view"]): i for s in ("training", "test") for i in gt[s]}
    by_view: dict[tuple, list[dict]] = defaultdict(list)
    mask_first = set()
    for r in index["rows"]:
        row = r["row"]
        mask = pydicom.dcmread(r["mask"]).pixel_array
        full = pydicom.dcmread(r["full"]).pixel_array
        crop = pydicom.dcmread(r["crop"]).pixel_array
        assert mask.dtype == np.uint8 and set(np.unique(mask)) == {0, 255} and mask.shape == full.shape
        assert crop.dtype == np.uint16 and crop.size < full.size
        # the crop is a window of the (MONOCHROME2) full image that contains the lesion
        img = 65535 - full if index["headers"][r["full"]].PhotometricInterpretation == "MONOCHROME1" else full
        r0, c0, r1, c1 = lesion_geometry_from_mask(mask)[2]
        h, w = crop.shape
        assert any(
            np.array_equal(img[y : y + h, x : x + w], crop)
            for y in range(max(0, r1 - h), r0 + 1)
            for x in range(max(0, c1 - w), c0 + 1)
        )
        # the lesion is brighter than the film background
        assert img[mask > 0].mean() > 8000
        mask_first.add(r["mask"].name == "1-1.dcm")
        lat = "L" if row["left or right breast"] == "LEFT" else "R"
        by_view[(row["patient_id"], lat, row["image view"])].append({**r, "mask_arr": mask > 0})
    assert set(by_view) == set(items)
    for k, rows in by_view.items():
        item = items[k]
        rows.sort(key=lambda r: (r["row"]["abnormality type"] != "mass", int(r["row"]["abnormality id"])))
        assert len(item["lesions"]) == len(rows)
        union = np.zeros((512, 320), bool)
        for lesion, r in zip(item["lesions"], rows):
            row = r["row"]
            center, radius, box = lesion_geometry_from_mask(r["mask_arr"])
            assert (lesion["center"], lesion["radius"], lesion["box"]) == (center, radius, box)
            assert lesion["type"] == row["abnormality type"]
            assert lesion["abnormality_id"] == int(row["abnormality id"])
            assert lesion["birads"] == int(row["assessment"]) and lesion["subtlety"] == int(row["subtlety"])
            assert lesion["source_pathology"] == row["pathology"]
            assert lesion["density"] == int(row.get("breast_density") or row["breast density"])
            if lesion["type"] == "mass":
                assert lesion["shape"] == (row["mass shape"] or None)
                assert lesion["margins"] == (row["mass margins"] or None)
            else:
                assert lesion["calc_type"] == (row["calc type"] or None)
                assert lesion["calc_distribution"] == (row["calc distribution"] or None)
            assert not (union & r["mask_arr"]).any()  # lesions of one image never overlap
            union |= r["mask_arr"]
        assert item["mask_pixels"] == int(union.sum())
        assert "label" not in item
        fulls = {str(r["full"]) for r in rows}
        assert {item["image"], *item["alt_images"]} == fulls
        assert Path(item["image"]).is_absolute()
    return mask_first


def test_cbis_masks_crops_and_geometry(cbis: dict[str, Any]) -> None:
    assert _check_ground_truth(cbis) == {True, False}  # which of 1-1/1-2 is the mask varies


def test_cbis_special_cases(cbis: dict[str, Any]) -> None:
    gt = load_datalist(cbis["ground_truth"])
    items = [(s, i) for s in ("training", "test") for i in gt[s]]
    # several abnormalities on one image (abnormality ids 1..n of one table)
    assert any(len([x for x in i["lesions"] if x["type"] == "mass"]) >= 2 for _, i in items)
    assert any(len([x for x in i["lesions"] if x["type"] == "calcification"]) >= 3 for _, i in items)
    # the same view in a Mass and a Calc table: one item, Mass file first, identical pixels, other UIDs
    shared = [i for _, i in items if i["alt_images"]]
    assert len(shared) == 1
    item = shared[0]
    assert "/Mass-" in item["image"] and "/Calc-" in item["alt_images"][0]
    assert [x["type"] for x in item["lesions"]] == ["mass", "calcification"]
    a, b = pydicom.dcmread(item["image"]), pydicom.dcmread(item["alt_images"][0])
    assert np.array_equal(a.pixel_array, b.pixel_array)
    assert a.StudyInstanceUID != b.StudyInstanceUID and a.SOPInstanceUID != b.SOPInstanceUID
    # a patient in mass-train and calc-test: entirely in "test", with the training source split kept
    tables = _read_csvs(Path(cbis["csv_dir"]))
    mass_train = {r["patient_id"] for r in tables["mass_case_description_train_set.csv"]}
    calc_test = {r["patient_id"] for r in tables["calc_case_description_test_set.csv"]}
    cross = mass_train & calc_test
    assert cross
    for split, i in items:
        if i["patient_id"] in cross:
            assert split == "test"
    assert any(s == "test" and i["source_split"] == "training" for s, i in items)
    # the split is by patient, and every patient of a Test table is in "test"
    test_tables = {r["patient_id"] for n, t in tables.items() if "test" in n for r in t}
    assert {i["patient_id"] for s, i in items if s == "test"} == test_tables
    assert not {i["patient_id"] for s, i in items if s == "training"} & test_tables
    # benign and malignant, both lateralities and views
    assert {i["pathology"] for _, i in items} == {"benign", "malignant"}
    assert {(i["laterality"], i["view"]) for _, i in items} >= {("L", "CC"), ("R", "CC"), ("L", "MLO")}
    assert {i["view"] for _, i in items} == {"CC", "MLO"} and {i["laterality"] for _, i in items} == {"L", "R"}


def test_cbis_csv_columns_swapped_in_some_rows(tmp_path: Path) -> None:
    s = synthesize_cbis_ddsm(tmp_path / "d", n_patients=4, layout="descriptive")
    index = _index(s)
    swapped = 0
    for r in index["rows"]:
        mask_key = r["row"]["ROI mask file path"].strip().split("/")[2]
        swapped += mask_key != index["headers"][r["mask"]].SeriesInstanceUID
    assert 0 < swapped < len(index["rows"])


def test_cbis_descriptive_layout(tmp_path: Path) -> None:
    s = synthesize_cbis_ddsm(tmp_path / "d", n_patients=5, seed=3, layout="descriptive")
    root = Path(s["image_dir"])
    uid = re.compile(r"^\d+(\.\d+){4,}$")
    for p in root.rglob("*.dcm"):
        case, study, series, name = p.relative_to(root).parts
        assert name == "1-1.dcm"
        assert not uid.match(study) and not uid.match(series)
        ds = pydicom.dcmread(p, stop_before_pixels=True)
        if FULL_CASE.match(case):
            assert study == f"07-20-2016-DDSM-{ds.StudyInstanceUID[-5:]}"
            assert series == f"1.000000-full mammogram images-{ds.SeriesInstanceUID[-5:]}"
        else:
            assert study == f"07-21-2016-DDSM-{ds.StudyInstanceUID[-5:]}"
            assert series in (
                f"1.000000-ROI mask images-{ds.SeriesInstanceUID[-5:]}",
                f"2.000000-cropped images-{ds.SeriesInstanceUID[-5:]}",
            )
    # the ground truth is still recoverable
    assert _check_ground_truth(s) == {True}


def test_cbis_deterministic(cbis: dict[str, Any], tmp_path: Path) -> None:
    again = synthesize_cbis_ddsm(tmp_path / "again")
    a, b = _tree(Path(cbis["root"])), _tree(Path(again["root"]))
    assert a.keys() == b.keys()
    for name in a:
        if name == "ground_truth.json":
            assert a[name].replace(cbis["root"].encode(), b"") == b[name].replace(again["root"].encode(), b"")
        else:
            assert a[name] == b[name], name
    other = synthesize_cbis_ddsm(tmp_path / "other", seed=1)
    assert _tree(Path(other["root"])).keys() != a.keys()


def test_cbis_refuses_non_empty_dir_and_overwrites_only_its_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("user data")
    with pytest.raises(FileExistsError, match=str(out)):
        synthesize_cbis_ddsm(out, n_patients=4)
    assert sorted(p.name for p in out.iterdir()) == ["mine.txt"]
    first = synthesize_cbis_ddsm(out, n_patients=4, overwrite=True)
    with pytest.raises(FileExistsError):
        synthesize_cbis_ddsm(out, n_patients=4)
    second = synthesize_cbis_ddsm(out, n_patients=5, seed=2, overwrite=True)
    assert (out / "mine.txt").read_text() == "user data"
    assert len(list(Path(second["image_dir"]).rglob("*.dcm"))) == second["n_dicom_files"]
    assert first["n_dicom_files"] != second["n_dicom_files"]
    # a file this generator did not write stops the overwrite, and nothing is deleted
    foreign = out / "CBIS-DDSM" / "Mass-Training_P_09999_LEFT_CC" / "real.dcm"
    foreign.parent.mkdir()
    foreign.write_bytes(b"x")
    with pytest.raises(FileExistsError, match="not written by this generator"):
        synthesize_cbis_ddsm(out, n_patients=4, overwrite=True)
    assert foreign.exists() and len(list(Path(second["image_dir"]).rglob("*.dcm"))) == second["n_dicom_files"] + 1


def test_cbis_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="n_patients"):
        synthesize_cbis_ddsm(tmp_path / "a", n_patients=3)
    with pytest.raises(ValueError, match="layout"):
        synthesize_cbis_ddsm(tmp_path / "b", layout="kaggle")


# --------------------------------------------------------------------------------------------------- MIAS

DATA_LINE = re.compile(r"^mdb\d{3}\s")


def _info_lines(mias: dict[str, Any]) -> tuple[list[str], list[str]]:
    text = Path(mias["info"]).read_text()
    assert "\r" not in text
    lines = text.split("\n")
    data = [ln for ln in lines if DATA_LINE.match(ln)]
    return lines, data


def test_mias_files(mias: dict[str, Any]) -> None:
    root = Path(mias["root"])
    assert mias["n_images"] == 8
    for j in range(1, 9):
        raw = (root / f"mdb{j:03d}.pgm").read_bytes()
        assert raw.startswith(b"P5\n1024 1024\n255\n") and len(raw) == 17 + 1024 * 1024
        img = np.asarray(Image.open(root / f"mdb{j:03d}.pgm"))
        assert img.shape == (1024, 1024) and img.dtype == np.uint8 and img.min() == 0 and img.max() > 190
        # the film is centred: black padding at both sides; odd = right breast, chest wall on the right
        assert img[:, :100].max() == 0 and img[:, -100:].max() == 0
        cols = np.nonzero(img.max(axis=0))[0]
        film = img[:, cols.min() : cols.max() + 1].astype(float)
        third = film.shape[1] // 3
        left, right = film[:, :third].mean(), film[:, -third:].mean()
        assert (right > left) if j % 2 else (left > right)


def test_mias_info_txt(mias: dict[str, Any]) -> None:
    lines, data = _info_lines(mias)
    first, last = lines.index(data[0]), lines.index(data[-1])
    assert any(ln.startswith("=====") for ln in lines[:first])
    assert any(ln.startswith("=====") for ln in lines[last + 1 :])
    assert any(ln.strip() and not ln.startswith("=") for ln in lines[last + 1 :])  # free-text footer
    refs = [ln.split()[0] for ln in data]
    assert sorted(set(refs)) == [f"mdb{j:03d}" for j in range(1, 9)]
    assert max(refs.count(r) for r in refs) in (2, 3)
    norm = [ln for ln in data if ln.split()[2] == "NORM"]
    assert norm and all(ln.endswith("NORM ") and len(ln.split()) == 3 for ln in norm)
    assert any(re.fullmatch(r"mdb\d{3} F CIRC B", ln) for ln in data)
    assert any(re.fullmatch(r"mdb\d{3} G CALC M \*NOTE 3\*", ln) for ln in data)
    for ln in data:
        f = ln.split()
        assert f[1] in "FGD" and f[2] in ("CALC", "CIRC", "SPIC", "MISC", "ARCH", "ASYM", "NORM")
        if len(f) >= 4:
            assert f[3] in ("B", "M")
        if len(f) == 7:
            assert all(x.isdigit() for x in f[4:])


def test_mias_ground_truth_round_trip(mias: dict[str, Any]) -> None:
    _, data = _info_lines(mias)
    gt = load_datalist(mias["ground_truth"])
    assert gt["test"] == [] and len(gt["training"]) == 8
    items = {Path(i["image"]).stem: i for i in gt["training"]}
    types = {"CALC": "calcification", "CIRC": "mass", "SPIC": "mass", "MISC": "mass"}
    types |= {"ARCH": "architectural_distortion", "ASYM": "asymmetry"}
    per_ref: dict[str, list[list[str]]] = defaultdict(list)
    for ln in data:
        per_ref[ln.split()[0]].append(ln.split())
    n = 0
    for ref, fields in per_ref.items():
        item = items[ref]
        j = int(ref[3:])
        assert item["laterality"] == ("R" if j % 2 else "L") and item["view"] == "MLO"
        pair = (j + 1) // 2
        assert item["patient_id"] == f"mdb{2 * pair - 1:03d}_{2 * pair:03d}"
        assert item["background_tissue"] == fields[0][1]
        abn = [f for f in fields if f[2] != "NORM"]
        assert len(item["lesions"]) == len(abn)
        img = np.asarray(Image.open(item["image"]))
        for f, lesion in zip(abn, item["lesions"]):
            n += 1
            assert lesion["type"] == types[f[2]] and lesion["mias_class"] == f[2]
            assert lesion["pathology"] == {"B": "benign", "M": "malignant"}[f[3]]
            assert lesion["background_tissue"] == f[1]
            if len(f) == 7:
                x, y, r = (int(v) for v in f[4:])
                assert lesion["center"] == [1024.0 - y, float(x)] and lesion["radius"] == float(r)
                row, col = 1024 - y, x
                disc = img[max(0, row - r) : row + r + 1, max(0, col - r) : col + r + 1]
                assert disc.max() > 60  # the lesion sits in the breast, not on the film background
            else:
                assert lesion["center"] is None and lesion["radius"] is None and lesion["box"] is None
    assert n == mias["n_lesions"]


def test_mias_png_deterministic_and_overwrite(tmp_path: Path) -> None:
    a = synthesize_mias(tmp_path / "a", n_patients=2, size=256)
    b = synthesize_mias(tmp_path / "b", n_patients=2, size=256)
    c = synthesize_mias(tmp_path / "c", n_patients=2, size=256, fmt="png")
    cmp = filecmp.dircmp(a["root"], b["root"])
    assert cmp.diff_files == ["ground_truth.json"] and not cmp.left_only and not cmp.right_only  # paths differ
    ta, tb = json.loads(Path(a["ground_truth"]).read_text()), json.loads(Path(b["ground_truth"]).read_text())
    assert json.dumps(ta).replace(a["root"], "") == json.dumps(tb).replace(b["root"], "")
    assert Path(a["info"]).read_bytes() == Path(c["info"]).read_bytes()
    for j in range(1, 5):
        png = Image.open(Path(c["root"]) / f"mdb{j:03d}.png")
        assert png.mode == "L" and png.size == (256, 256)
        assert np.array_equal(np.asarray(png), np.asarray(Image.open(Path(a["root"]) / f"mdb{j:03d}.pgm")))
    with pytest.raises(FileExistsError, match=str(Path(a["root"]))):
        synthesize_mias(a["root"], n_patients=2, size=256)
    (Path(a["root"]) / "notes.txt").write_text("keep me")
    synthesize_mias(a["root"], n_patients=3, size=256, fmt="png", overwrite=True)
    names = sorted(p.name for p in Path(a["root"]).iterdir())
    assert names == sorted(
        [".synthetic_mias.json", "Info.txt", "ground_truth.json", "notes.txt"]
        + [f"mdb{j:03d}.png" for j in range(1, 7)]
    )
    with pytest.raises(ValueError, match="fmt"):
        synthesize_mias(tmp_path / "d", fmt="jpg")
