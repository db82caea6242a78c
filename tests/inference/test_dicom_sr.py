"""DICOM SR (TID 1500) of one study's findings: written by highdicom, read back with highdicom, codes and geometry."""

from __future__ import annotations

import highdicom as hd
import numpy as np
import pydicom
import pytest
from highdicom.sr.utils import find_content_items
from pydicom.sr.codedict import codes
from pydicom.uid import ComprehensiveSRStorage, generate_uid

from mammo_monai.inference.dicom_sr import (
    PRIVATE_CODING_SCHEME,
    ImageFindings,
    findings_to_dicom_sr,
    read_dicom_sr_findings,
)
from tests.io.dicom_factory import write_dicom

SHAPE = (48, 30)
CLASSIFICATION = {"algorithm": "mammo_image_classification", "version": "0.1.2", "classes": ["normal", "abnormal"],
                  "probabilities": {"normal": 0.25, "abnormal": 0.75}, "prediction": "abnormal"}
PATHOLOGY = {"algorithm": "mammo_pathology", "version": "0.2.0", "classes": ["benign", "malignant", "non_malignant"],
             "probabilities": {"benign": 0.125, "malignant": 0.625, "non_malignant": 0.25}, "prediction": "malignant"}
CANDIDATES = [{"class": "mass", "score": 0.93, "center": [5.5, 6.5], "box": [2, 3, 9, 11]},
              {"class": "calcification", "score": 0.5, "center": [40.0, 20.0], "box": [38, 18, 48, 30]},
              {"class": "architectural_distortion", "score": 0.25, "center": [0.5, 0.5], "box": [0, 0, 1, 1]}]


def _film(tmp_path, name, **attributes):
    return write_dicom(tmp_path / name, np.zeros(SHAPE, np.uint16), **attributes)


def _study(tmp_path):
    """Two films of one study: a left one with Image Laterality, a right one with only Laterality (CBIS-DDSM)."""
    study = generate_uid()
    left = _film(tmp_path, "left.dcm", StudyInstanceUID=study, PatientName="Doe^Jane", PatientID="P1",
                 ImageLaterality="L", AccessionNumber="A1")
    right = _film(tmp_path, "right.dcm", StudyInstanceUID=study, PatientName="Doe^Jane", PatientID="P1",
                  Laterality="R")
    return left, right


def _findings(left, right):
    return [ImageFindings(left, classification=CLASSIFICATION, candidates=CANDIDATES,
                          detector="mammo_patch_detection", detector_version="0.3.0"),
            ImageFindings(right, classification=PATHOLOGY)]


def _code(code):
    return (code.value, code.scheme_designator)


def test_report_references_classification_and_candidates(tmp_path):
    left, right = _study(tmp_path)
    findings_to_dicom_sr(_findings(left, right), series_number=7).save_as(tmp_path / "sr.dcm")
    sr = hd.sr.srread(tmp_path / "sr.dcm")
    films = [pydicom.dcmread(p, stop_before_pixels=True) for p in (left, right)]
    assert sr.SOPClassUID == ComprehensiveSRStorage and sr.Modality == "SR" and sr.SeriesNumber == 7
    assert sr.StudyInstanceUID == films[0].StudyInstanceUID and sr.PatientID == "P1"
    assert sr.PatientName == "Doe^Jane" and sr.AccessionNumber == "A1"
    evidence = {(s.SeriesInstanceUID, r.ReferencedSOPInstanceUID)
                for s in sr.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence
                for r in s.ReferencedSOPSequence}
    assert evidence == {(f.SeriesInstanceUID, f.SOPInstanceUID) for f in films}
    assert "PertinentOtherEvidenceSequence" not in sr
    report = sr.content
    assert isinstance(report, hd.sr.MeasurementReport)
    procedure = find_content_items(report[0], name=codes.DCM.ProcedureReported)
    assert [_code(p.ConceptCodeSequence[0]) for p in procedure] == [("71651007", "SCT")]

    # TID 1501 per classified image: finding = predicted class, one probability per class, laterality
    left_group, right_group = report.get_image_measurement_groups()
    assert _code(left_group.finding_type) == _code(codes.SCT.Abnormal)
    assert _code(right_group.finding_type) == _code(codes.SCT.Malignant)
    assert [s.referenced_sop_instance_uid for s in left_group.source_images] == [films[0].SOPInstanceUID]
    left_site, = left_group.finding_sites
    assert _code(left_site.value) == _code(codes.SCT.Breast) and _code(left_site.laterality) == _code(codes.SCT.Left)
    assert _code(right_group.finding_sites[0].laterality) == _code(codes.SCT.Right)  # from Laterality (0020,0060)
    measurements = right_group.get_measurements()
    assert [m.value for m in measurements] == [0.125, 0.625, 0.25]
    assert all(_code(m.unit) == ("1", "UCUM") for m in measurements)
    assert _code(measurements[1].name) == ("111047", "DCM")  # Probability of cancer
    assert [m.name.scheme_designator for m in measurements] == [PRIVATE_CODING_SCHEME, "DCM", PRIVATE_CODING_SCHEME]
    assert [m.name.meaning for m in measurements[::2]] == ["Probability of benign", "Probability of non_malignant"]
    assert sr.CodingSchemeIdentificationSequence[0].CodingSchemeDesignator == PRIVATE_CODING_SCHEME

    # TID 1410 per candidate: the box's edges as a closed polyline on its image, class code, score
    groups = report.get_planar_roi_measurement_groups()
    assert len(groups) == len(CANDIDATES)
    expected_codes = [("4147007", "SCT"), ("111105", "DCM"), ("52988006", "SCT")]
    for k, (group, candidate, code) in enumerate(zip(groups, CANDIDATES, expected_codes), start=1):
        r0, c0, r1, c1 = candidate["box"]
        assert group.roi.graphic_type == hd.sr.GraphicTypeValues.POLYLINE
        np.testing.assert_array_equal(group.roi.value, [[c0, r0], [c1, r0], [c1, r1], [c0, r1], [c0, r0]])
        source = group.roi.ContentSequence[0].ReferencedSOPSequence[0]
        assert source.ReferencedSOPInstanceUID == films[0].SOPInstanceUID
        assert _code(group.finding_type) == code
        score, = group.get_measurements(name=codes.DCM.CertaintyOfFinding)
        assert score.value == candidate["score"] and _code(score.unit) == ("1", "UCUM")
        assert group.tracking_identifier == f"candidate {k} on {films[0].SOPInstanceUID}"
        assert _code(group.finding_sites[0].laterality) == _code(codes.SCT.Left)
        name, = find_content_items(group[0], name=codes.DCM.AlgorithmName)
        assert name.TextValue == "mammo_patch_detection"
    assert len({g.tracking_uid for g in groups}) == len(groups)


def test_read_dicom_sr_findings_round_trip(tmp_path):
    left, right = _study(tmp_path)
    sr = findings_to_dicom_sr(_findings(left, right))
    sr.save_as(tmp_path / "sr.dcm")
    found = read_dicom_sr_findings(tmp_path / "sr.dcm")
    left_uid, right_uid = (pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID for p in (left, right))
    assert [(f["kind"], f["sop_instance_uid"]) for f in found] == (
        [("classification", left_uid)] + [("candidate", left_uid)] * 3 + [("classification", right_uid)])
    assert found[0]["class"] == "abnormal" and found[0]["probabilities"] == CLASSIFICATION["probabilities"]
    assert (found[0]["algorithm"], found[0]["version"], found[0]["laterality"]) == (
        "mammo_image_classification", "0.1.2", "L")
    assert found[4]["class"] == "malignant" and found[4]["probabilities"] == PATHOLOGY["probabilities"]
    assert found[4]["laterality"] == "R"
    assert [f["box"] for f in found[1:4]] == [c["box"] for c in CANDIDATES]
    assert [f["score"] for f in found[1:4]] == [c["score"] for c in CANDIDATES]
    assert [f["class"] for f in found[1:4]] == ["mass", "calcification", "lesion"]  # no code of its own: Lesion
    assert {(f["algorithm"], f["version"]) for f in found[1:4]} == {("mammo_patch_detection", "0.3.0")}
    assert read_dicom_sr_findings(sr) == found  # the dataset itself, as the writer gave it


def test_study_without_findings_says_so(tmp_path):
    left, right = _study(tmp_path)
    sr = findings_to_dicom_sr([ImageFindings(left, detector="mammo_patch_detection"), ImageFindings(right)])
    sr.save_as(tmp_path / "sr.dcm")
    back = hd.sr.srread(tmp_path / "sr.dcm")
    assert read_dicom_sr_findings(tmp_path / "sr.dcm") == []
    assert back.content.get_planar_roi_measurement_groups() == []
    groups = back.content.get_image_measurement_groups()
    assert len(groups) == 2
    for group in groups:
        summary, = group.get_qualitative_evaluations(name=codes.DCM.CADProcessingAndFindingsSummary)
        assert _code(summary.value) == _code(codes.DCM.AllAlgorithmsSucceededWithoutFindings)
    referenced = [r.ReferencedSOPInstanceUID for s in back.CurrentRequestedProcedureEvidenceSequence[0]
                  .ReferencedSeriesSequence for r in s.ReferencedSOPSequence]
    assert len(referenced) == 2 and "CodingSchemeIdentificationSequence" not in back


def test_one_study_per_report(tmp_path):
    left, _ = _study(tmp_path)
    other = _film(tmp_path, "other.dcm", PatientName="Roe^Ann")  # a study of its own
    with pytest.raises(ValueError, match=r"not of one study.*left\.dcm.*other\.dcm"):
        findings_to_dicom_sr([ImageFindings(left), ImageFindings(other)])
    with pytest.raises(ValueError, match="at least one"):
        findings_to_dicom_sr([])
    with pytest.raises(ValueError, match="not an SR document"):
        read_dicom_sr_findings(left)


@pytest.mark.parametrize("box", [[-1, 0, 5, 5], [0, -2, 5, 5], [40, 0, SHAPE[0] + 1, 5], [0, 20, 5, SHAPE[1] + 1],
                                 [5, 5, 5, 9], [1.5, 0, 5, 5]])
def test_bad_boxes_are_refused_naming_the_file(tmp_path, box):
    left, _ = _study(tmp_path)
    with pytest.raises(ValueError, match=r"left\.dcm: candidate 1 box"):
        findings_to_dicom_sr([ImageFindings(left, candidates=[{"class": "mass", "score": 0.5, "box": box}])])


def test_bad_scores_are_refused(tmp_path):
    left, _ = _study(tmp_path)
    with pytest.raises(ValueError, match=r"left\.dcm: candidate 1 score 1\.5 is not in \[0, 1\]"):
        findings_to_dicom_sr([ImageFindings(left, candidates=[{"class": "mass", "score": 1.5, "box": [0, 0, 2, 2]}])])
    with pytest.raises(ValueError, match=r"prediction 'x' is not one of the classes"):
        findings_to_dicom_sr([ImageFindings(left, classification={**CLASSIFICATION, "prediction": "x"})])


def test_source_without_patient_name_is_not_modified(tmp_path):
    path = _film(tmp_path, "film.dcm")
    before = path.read_bytes()
    sr = findings_to_dicom_sr([ImageFindings(path, classification=CLASSIFICATION)])
    assert sr.PatientName == "" and path.read_bytes() == before
    source = pydicom.dcmread(path)
    sr = findings_to_dicom_sr([ImageFindings(source, candidates=CANDIDATES[:1])])
    assert "PatientName" not in source and "StudyDate" not in source  # the caller's dataset is not changed
    assert read_dicom_sr_findings(sr)[0]["laterality"] is None  # no laterality in the header


def test_real_cbis_ddsm_film(shared_dicom, tmp_path):
    """A CBIS-DDSM Secondary Capture film: Laterality (0020,0060) only, no frame of reference."""
    path = shared_dicom / "cbis-ddsm" / "Mass-Test_P_00173_LEFT_CC.dcm"
    film = pydicom.dcmread(path, stop_before_pixels=True)
    box = [1000, 500, int(film.Rows), int(film.Columns)]
    findings_to_dicom_sr([ImageFindings(path, candidates=[{"class": "mass", "score": 0.7, "box": box}],
                                        detector="mammo_patch_detection")]).save_as(tmp_path / "sr.dcm")
    found, = read_dicom_sr_findings(tmp_path / "sr.dcm")
    assert (found["sop_instance_uid"], found["box"], found["laterality"]) == (film.SOPInstanceUID, box, "L")
    assert hd.sr.srread(tmp_path / "sr.dcm").PatientID == film.PatientID
