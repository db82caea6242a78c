"""DICOM SEG of a label mask: written by highdicom, read back with highdicom, references and geometry."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

from mammo_monai.inference.dicom_seg import mask_to_dicom_seg
from tests.io.dicom_factory import write_dicom

SHAPE = (48, 30)


def _film(tmp_path, **attributes):
    return write_dicom(tmp_path / "film.dcm", np.arange(np.prod(SHAPE), dtype=np.uint16).reshape(SHAPE),
                       **attributes)


def test_segments_references_and_pixels_round_trip(tmp_path):
    import highdicom as hd

    path = _film(tmp_path, PatientName="Doe^Jane", PatientID="P1", PixelSpacing=[0.07, 0.07])
    mask = np.zeros(SHAPE, np.uint8)
    mask[5:12, 3:9] = 1
    mask[30:33, 20:25] = 2
    seg = mask_to_dicom_seg(path, mask, {1: "mass", 2: "calcification"}, algorithm="mammo_patch_detection")
    seg.save_as(tmp_path / "seg.dcm")
    back = hd.seg.segread(tmp_path / "seg.dcm")
    film = pydicom.dcmread(path, stop_before_pixels=True)
    assert back.Modality == "SEG" and (back.Rows, back.Columns) == SHAPE
    assert back.StudyInstanceUID == film.StudyInstanceUID and back.PatientID == "P1"
    assert back.ReferencedSeriesSequence[0].SeriesInstanceUID == film.SeriesInstanceUID
    assert [s.SegmentLabel for s in back.SegmentSequence] == ["mass", "calcification"]
    assert back.SegmentSequence[0].SegmentedPropertyTypeCodeSequence[0].CodeValue == "4147007"
    pixels = back.get_pixels_by_source_instance([film.SOPInstanceUID], combine_segments=True)
    np.testing.assert_array_equal(pixels[0], mask)


def test_source_without_patient_name_is_not_modified(tmp_path):
    path = _film(tmp_path, PixelSpacing=[0.1, 0.1])
    before = path.read_bytes()
    mask = np.zeros(SHAPE, np.uint8)
    mask[1:4, 1:4] = 1
    seg = mask_to_dicom_seg(path, mask, {1: "mass"}, algorithm="x")
    assert seg.PatientName == "" and path.read_bytes() == before
    source = pydicom.dcmread(path)
    mask_to_dicom_seg(source, mask, {1: "mass"}, algorithm="x")
    assert "PixelSpacing" in source and "PatientName" not in source  # the caller's dataset is not changed


def test_bad_masks_are_refused_naming_the_file(tmp_path):
    path = _film(tmp_path, PatientName="A^B")
    with pytest.raises(ValueError, match=r"film\.dcm.*\(30, 48\)"):
        mask_to_dicom_seg(path, np.zeros(SHAPE[::-1], np.uint8), {1: "mass"}, algorithm="x")
    mask = np.zeros(SHAPE, np.uint8)
    mask[0, 0] = 3
    with pytest.raises(ValueError, match=r"values \[3\]"):
        mask_to_dicom_seg(path, mask, {1: "mass"}, algorithm="x")
