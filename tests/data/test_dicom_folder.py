"""Indexing a folder of MG DICOM: what is kept, what is reported, and the real files."""

from __future__ import annotations

import shutil
from collections import Counter

import numpy as np
import pydicom

from mammo_monai.data.dicom_folder import index_dicom_folder, patient_id_from_header

from ..io.dicom_factory import write_dicom


def test_patient_id_from_cbis_style_ids():
    assert patient_id_from_header("Mass-Test_P_00173_LEFT_CC") == "P_00173"
    assert patient_id_from_header("Calc-Training_P_00005_RIGHT_MLO_1") == "P_00005"
    assert patient_id_from_header(" 12345 ") == "12345"
    assert patient_id_from_header("") is None


def test_hospital_folder(tmp_path):
    arr = np.arange(64 * 48, dtype=np.uint16).reshape(64, 48)
    root = tmp_path / "export"
    for patient in ("A", "B", "C"):
        for lat in ("L", "R"):
            for view in ("CC", "MLO"):
                write_dicom(root / patient / "study1" / f"{lat}{view}.dcm", arr, PatientID=patient,
                            ImageLaterality=lat, ViewPosition=view)
    write_dicom(root / "A" / "ct.dcm", arr, Modality="CT", PatientID="A")
    write_dicom(root / "A" / "IM_NO_SUFFIX", arr, PatientID="A", ImageLaterality="L")  # no view anywhere
    ddsm = write_dicom(root / "D" / "rg.dcm", arr, Modality="RG", BodyPartExamined="BREAST", PatientID="D",
                       Laterality="R", ViewPosition="CC")
    shutil.copy(root / "A" / "study1" / "LCC.dcm", root / "A" / "copy_of_LCC.dcm")
    tomo = write_dicom(root / "B" / "tomo.dcm", np.zeros((64, 48), np.uint16), PatientID="B", NumberOfFrames=3)
    (root / "B" / "broken.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00garbage")
    cut = write_dicom(root / "C" / "cut.dcm", arr, PatientID="C", ImageLaterality="L", ViewPosition="CC")
    cut.write_bytes(cut.read_bytes()[:-100])
    (root / "README.txt").write_text("export notes")
    before = sorted(p.relative_to(root) for p in root.rglob("*"))

    result = index_dicom_folder(root, tmp_path / "h.json", fractions={"training": 0.5, "test": 0.5}, progress=False)

    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before
    items = [i for split in result.datalist.values() for i in split]
    assert len(items) == 3 * 4 + 1 + 1  # 12 MG views, the suffix-less MG, the RG breast image
    assert all(i["pathology"] is None and i["lesions"] == [] for i in items)
    kinds = Counter(p.kind for p in result.problems)
    assert kinds == {"not_mammography": 1, "duplicate_instance": 1, "not_2d": 1, "unreadable_dicom": 2,
                     "no_view": 1}
    assert any(p.path == str(cut) and "truncated" in p.detail for p in result.problems)
    assert any(p.path == str(tomo) for p in result.problems)
    rg = next(i for i in items if i["image"] == str(ddsm))
    assert (rg["patient_id"], rg["laterality"], rg["view"], rg["modality"]) == ("D", "R", "CC", "RG")
    assert result.summary["non_dicom_files_skipped"] == 1 and result.summary["studies"] >= 4
    sides = {split: {i["patient_id"] for i in v} for split, v in result.datalist.items()}
    assert not sides["training"] & sides["test"]
    ordered = list(result.datalist["training"])
    assert ordered == sorted(ordered, key=lambda i: (i["patient_id"], i["study_instance_uid"], i["laterality"] or "",
                                                     i["view"] or "", i["image"]))


def test_real_dicom_folder(shared_dicom, tmp_path):
    result = index_dicom_folder(shared_dicom, tmp_path / "real.json", progress=False)
    items = result.datalist["test"]
    assert len(items) == 5 and len(result.problems) == 0
    cbis = sorted((i["patient_id"], i["laterality"], i["view"]) for i in items if i["modality"] == "MG")
    assert cbis == [("P_00173", "L", "CC"), ("P_00173", "L", "MLO"), ("P_00173", "R", "CC"), ("P_00173", "R", "MLO")]
    for item in items:
        ds = pydicom.dcmread(item["image"], stop_before_pixels=True)
        assert (item["rows"], item["columns"]) == (ds.Rows, ds.Columns)
