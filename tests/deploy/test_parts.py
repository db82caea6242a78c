"""The Deploy app's parts in process (no scheduler): file checks, crop/mask rules, settings, an operator's refusal,
and the SR writer's handling of a film whose inference failed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest

from tests.deploy import SDK_MISSING, deploy_sdk_installed
from tests.io.dicom_factory import write_dicom

if not deploy_sdk_installed():
    pytest.skip(SDK_MISSING, allow_module_level=True)


class _Ports:
    """What an operator's ``compute`` receives from and emits to."""

    def __init__(self, **inputs):
        self.inputs, self.emitted = inputs, {}

    def receive(self, name):
        return self.inputs[name]

    def emit(self, value, name):
        self.emitted[name] = value


@pytest.fixture()
def fragment():
    from monai.deploy.core import Fragment

    return Fragment()


def _film(path: Path, **attributes) -> Path:
    rng = np.random.default_rng(0)
    return write_dicom(path, rng.integers(0, 4000, (96, 64), dtype=np.uint16), **attributes)


def test_files_that_are_not_dicom_or_cut_short_are_reported(tmp_path):
    from mammo_monai.deploy.report import RunReport
    from mammo_monai.deploy.selection import readable_dicom_files

    good = _film(tmp_path / "good.dcm")
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(good.read_bytes()[:-3000])
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    (tmp_path / ".DS_Store").write_bytes(b"\0" * 10)
    report = RunReport()
    assert readable_dicom_files([good, cut, text, tmp_path / ".DS_Store"], report) == [str(good)]
    kinds = {Path(e["path"]).name: e["kind"] for e in report.entries()}
    assert kinds == {"cut.dcm": "unreadable_dicom", "notes.txt": "not_dicom"}


def test_crops_and_masks_are_told_from_full_field_films():
    from mammo_monai.deploy.loading import full_field_problem

    film = np.random.default_rng(0).integers(0, 4000, (400, 300))
    assert full_field_problem(pydicom.Dataset(), film) is None
    described = pydicom.Dataset()
    described.SeriesDescription = "cropped images"
    assert "names a crop" in full_field_problem(described, film)
    derived = pydicom.Dataset()
    derived.ImageType = ["DERIVED", "SECONDARY", "ROI MASK"]
    assert "ImageType" in full_field_problem(derived, film)
    mask = np.zeros((400, 300), np.uint8)
    mask[100:150, 80:120] = 255
    assert "binary mask" in full_field_problem(pydicom.Dataset(), mask)
    assert "a crop" in full_field_problem(pydicom.Dataset(), film, pixel_spacing=[0.1, 0.1])  # 30 mm across
    assert full_field_problem(pydicom.Dataset(), film, pixel_spacing=[0.5, 0.5]) is None  # 150 mm


def test_settings_file_with_an_unknown_key_is_refused(tmp_path):
    from mammo_monai.deploy.settings import DeploySettings

    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"detection_treshold": 0.4}))
    with pytest.raises(ValueError, match="unknown setting.*detection_treshold"):
        DeploySettings.from_file(path)
    path.write_text(json.dumps({"detection_threshold": 0.4, "rules": {"selections": []}}))
    settings = DeploySettings.from_file(path)
    assert settings.detection_threshold == 0.4 and json.loads(settings.rules) == {"selections": []}


def test_a_bundle_without_its_checkpoint_is_refused_with_the_path(fragment, tmp_path):
    from mammo_monai.deploy.inference import BundleInferenceOperator
    from mammo_monai.deploy.report import RunReport
    from mammo_monai.inference.bundle import default_bundles_dir

    missing = tmp_path / "mammo_mass_segmentation" / "model.pt"
    with pytest.raises(FileNotFoundError, match=str(missing)):
        BundleInferenceOperator(fragment, kind="segmentation", bundle_dir=default_bundles_dir()
                                / "mammo_mass_segmentation", checkpoint=missing, report=RunReport())


def test_a_film_whose_detection_failed_is_left_out_of_the_sr_and_reported(fragment, tmp_path):
    from mammo_monai.deploy.loading import MammogramLoaderOperator
    from mammo_monai.deploy.report import RunReport
    from mammo_monai.deploy.writers import StructuredReportWriterOperator
    from mammo_monai.inference.dicom_sr import read_dicom_sr_findings

    report = RunReport()
    study = pydicom.uid.generate_uid()
    paths = [_film(tmp_path / f"{v}.dcm", StudyInstanceUID=study, Laterality="L", PatientID="P1")
             for v in ("cc", "mlo")]
    loader = MammogramLoaderOperator(fragment, report=report, min_field_mm=1.0)
    films = [loader.load(pydicom.dcmread(p, stop_before_pixels=True)) for p in paths]
    cls = {m.sop_instance_uid: {"classes": ["normal", "abnormal"], "probabilities": {"normal": 0.3, "abnormal": 0.7},
                                "prediction": "abnormal"} for m in films}
    det = {films[0].sop_instance_uid: {"candidates": [{"class": "mass", "score": 0.9, "center": [20.0, 30.0],
                                                      "box": [10, 20, 30, 40], "reported": True}]}}
    writer = StructuredReportWriterOperator(fragment, output_folder=tmp_path / "out", report=report)
    ports = _Ports(mammograms=films,
                   classification={"bundle": "cls", "version": "1", "kind": "classification", "by_sop": cls},
                   detection={"bundle": "det", "version": "1", "kind": "detection", "by_sop": det})
    writer.compute(ports, ports, None)
    sr_file = ports.emitted["files"][study]
    found = read_dicom_sr_findings(sr_file)
    assert {f["sop_instance_uid"] for f in found} == {films[0].sop_instance_uid}
    assert [f["box"] for f in found if f["kind"] == "candidate"] == [[10, 20, 30, 40]]
    assert [(Path(e["path"]).name, e["kind"]) for e in report.entries()] == [("mlo.dcm", "not_in_sr")]
    # the file is never replaced
    writer.compute(ports, ports, None)
    assert report.entries()[-1]["kind"] == "write_failed" and "exists" in report.entries()[-1]["detail"]


def test_a_folder_without_any_mammogram_loads_as_no_study_instead_of_failing(fragment, tmp_path):
    from mammo_monai.deploy.report import RunReport
    from mammo_monai.deploy.selection import MammographyStudyLoaderOperator

    (tmp_path / "notes.txt").write_text("nothing here")
    _film(tmp_path / "DICOMDIR")  # passed over, as the SDK does
    report = RunReport()
    loader = MammographyStudyLoaderOperator(fragment, input_folder=tmp_path, report=report)
    assert loader.load_data_to_studies(tmp_path) == []
    assert [(Path(e["path"]).name, e["kind"]) for e in report.entries()] == [("notes.txt", "not_dicom")]
