"""The MONAI Deploy app, run as users run it (``python -m mammo_monai.deploy -i -o -m``) over one input folder
that mixes the real CBIS-DDSM films (RLE, 16 bit, laterality in (0020,0060)), a synthetic CBIS-DDSM download
(full films, a MONOCHROME1 one among them, lesion crops and ROI masks, all Modality MG), a MONOCHROME2 twin of the
MONOCHROME1 film, a non-MG series inside one of the studies, the real DDSM film whose Modality is RG, a truncated
copy of a film and a text file. The outputs are read back with highdicom/pydicom and compared with the bundles' own
inference (:class:`~mammo_monai.inference.bundle.BundleInference`, the bundle's ``inference.json``) on the same
files; checkpoints are random (fixed seed): these tests check references, geometry and values, not accuracy.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest

from mammo_monai.data.synthetic.cbis_ddsm import synthesize_cbis_ddsm
from mammo_monai.inference.bundle import (
    BundleInference,
    class_probabilities,
    default_bundles_dir,
    detection_candidates,
    segmentation_mask,
)
from mammo_monai.inference.dicom_sr import read_dicom_sr_findings
from tests.conftest import REPO_ROOT, SHARED_DATA
from tests.deploy import SDK_MISSING, deploy_sdk_installed
from tests.io.dicom_factory import write_dicom
from tests.label.studies import write_random_checkpoints

if not deploy_sdk_installed():
    pytest.skip(SDK_MISSING, allow_module_level=True)

SEG, CLS, DET = "mammo_mass_segmentation", "mammo_image_classification", "mammo_patch_detection"
BUNDLES = {"segmentation": SEG, "classification": CLS, "detection": DET}
CBIS = SHARED_DATA / "dicom" / "cbis-ddsm"
NEMA = SHARED_DATA / "dicom" / "nema-wg04" / "MG1_J2KI.dcm"
#: the CPU recipes, with the detector's windows at half overlap and the films taken as 50 um (CBIS-DDSM's
#: digitisers; no file here has a PixelSpacing): a fast run, the same code path
SETTINGS = {
    "configs": {name: ["mias_cpu.json"] for name in BUNDLES.values()},
    "overrides": {DET: {"default_spacing": 0.05, "overlap": 0.5}},
    "detection_threshold": 0.3,
    "device": "cpu",
}


def _tree_digest(folder: Path) -> dict[str, tuple[int, float]]:
    return {str(p.relative_to(folder)): (p.lstat().st_size, p.lstat().st_mtime) for p in sorted(folder.rglob("*"))}


def _study_folder(root: Path) -> dict[str, Path]:
    """The input folder; returns the special files by role."""
    synth = synthesize_cbis_ddsm(root / "synthetic", n_patients=4, seed=3, image_shape=(512, 320))
    image_dir = Path(synth["image_dir"])
    headers = {p: pydicom.dcmread(p, stop_before_pixels=True) for p in image_dir.rglob("*.dcm")}
    full = sorted(p for p, h in headers.items() if "full" in str(h.get("SeriesDescription", "")))
    mono1 = next(p for p in full if headers[p].PhotometricInterpretation == "MONOCHROME1")
    extra = root / "synthetic" / "extra"
    ds = pydicom.dcmread(mono1)
    stored = ds.pixel_array.astype(np.uint16)
    twin = write_dicom(extra / "mono2_twin.dcm", ((1 << int(ds.BitsStored)) - 1 - stored).astype(np.uint16),
                       BitsStored=int(ds.BitsStored), PatientID="TWIN", Laterality=str(ds.Laterality),
                       PatientOrientation=list(ds.PatientOrientation))
    host = pydicom.dcmread(full[0], stop_before_pixels=True)
    other = write_dicom(extra / "requisition.dcm", np.full((64, 48), 7, np.uint16), Modality="OT",
                        StudyInstanceUID=host.StudyInstanceUID, PatientID=host.PatientID,
                        SeriesDescription="scanned requisition")
    truncated = extra / "truncated.dcm"
    data = full[1].read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    (extra / "README.txt").write_text("films exported for the deploy test\n")
    real = []
    if CBIS.is_dir():
        (root / "real").mkdir()
        for f in sorted(CBIS.glob("*.dcm")):
            (root / "real" / f.name).symlink_to(f)
            real.append(root / "real" / f.name)
        if NEMA.is_file():
            (root / "real" / NEMA.name).symlink_to(NEMA)
    crops_masks = sorted(p for p, h in headers.items() if "full" not in str(h.get("SeriesDescription", "")))
    return {"root": root, "full": full, "mono1": mono1, "twin": twin, "other": other, "truncated": truncated,
            "readme": extra / "README.txt", "real": real, "crops_masks": crops_masks}


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    work = tmp_path_factory.mktemp("deploy")
    files = _study_folder(work / "in")
    models = work / "models"
    write_random_checkpoints(models, default_bundles_dir(), list(BUNDLES.values()), ["mias_cpu.json"])
    settings = work / "settings.json"
    settings.write_text(json.dumps(SETTINGS))
    before = _tree_digest(files["root"])
    out = work / "out"
    env = {**os.environ, "MAMMO_DEPLOY_SETTINGS": str(settings)}
    cmd = [sys.executable, "-m", "mammo_monai.deploy", "-i", str(files["root"]), "-o", str(out), "-m", str(models)]
    run = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=900)
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-6000:]
    summary = json.loads((out / "summary.json").read_text())
    images = {im["file"]: im for study in summary["studies"] for im in study["images"]}
    return {"files": files, "out": out, "models": models, "log": log, "summary": summary, "images": images,
            "before": before, "cmd": cmd, "env": env, "work": work}


@pytest.fixture(scope="module")
def runners(deployed):
    """The bundles' own inference (their ``inference.json`` + the same recipe and overrides)."""
    return {kind: BundleInference(default_bundles_dir() / name, deployed["models"] / name / "model.pt",
                                  configs=SETTINGS["configs"][name], overrides=SETTINGS["overrides"].get(name),
                                  device="cpu")
            for kind, name in BUNDLES.items()}


def _checked(deployed) -> list[Path]:
    """The films compared value by value: two synthetic films (the MONOCHROME1 one among them), the MONOCHROME2 twin
    and one real CBIS-DDSM film (the others' results go through the same code: the twin test compares them)."""
    files = deployed["files"]
    others = [p for p in files["full"] if p != files["mono1"]]
    return [files["mono1"], others[0], files["twin"], *files["real"][:1]]


def test_full_field_mammograms_are_processed_and_everything_else_is_reported(deployed):
    files, summary, images = deployed["files"], deployed["summary"], deployed["images"]
    assert set(images) == {str(p) for p in [*files["full"], files["twin"], *files["real"]]}
    by_path = {e["path"]: e for e in summary["skipped"]}
    assert by_path[str(files["truncated"])]["kind"] == "unreadable_dicom"
    assert by_path[str(files["readme"])]["kind"] == "not_dicom"
    other = by_path[str(files["other"])]
    assert other["kind"] == "not_mammography" and "Modality OT" in other["detail"]
    for p in files["crops_masks"]:
        assert by_path[str(p)]["kind"] == "not_full_field", by_path.get(str(p))
    if files["real"] and NEMA.is_file():
        nema = by_path[str(files["real"][0].parent / NEMA.name)]
        assert nema["kind"] == "not_mammography" and "Modality RG" in nema["detail"]
    for e in summary["skipped"]:  # each reason is in the log too, with the file named
        assert e["path"] in deployed["log"] and e["kind"] in deployed["log"]
    # nothing in the input folder was moved, changed or added
    assert _tree_digest(files["root"]) == deployed["before"]


def test_each_film_has_a_seg_that_references_it_with_the_bundles_own_mask(deployed, runners):
    import highdicom as hd

    for path in _checked(deployed):
        image = deployed["images"][str(path)]
        source = pydicom.dcmread(path, stop_before_pixels=True)
        seg = hd.seg.segread(image["seg_file"])
        assert Path(image["seg_file"]).parent == deployed["out"] / source.StudyInstanceUID
        assert seg.Modality == "SEG" and (seg.Rows, seg.Columns) == (source.Rows, source.Columns)
        assert seg.StudyInstanceUID == source.StudyInstanceUID and seg.PatientID == source.PatientID
        assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == source.SeriesInstanceUID
        assert seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence[0].ReferencedSOPInstanceUID \
            == source.SOPInstanceUID
        assert [s.SegmentLabel for s in seg.SegmentSequence] == ["mass"]
        assert seg.SegmentSequence[0].SegmentedPropertyTypeCodeSequence[0].CodeValue == "4147007"
        pixels = seg.get_pixels_by_source_instance([source.SOPInstanceUID], combine_segments=True)[0]
        expected = segmentation_mask(runners["segmentation"](path))
        np.testing.assert_array_equal(pixels, expected)
        assert image["segmentation"]["mass_pixels"] == int(expected.sum())


def test_each_study_has_an_sr_with_the_bundles_own_classification_and_candidates(deployed, runners):
    import highdicom as hd

    threshold = SETTINGS["detection_threshold"]
    for path in _checked(deployed):
        image = deployed["images"][str(path)]
        source = pydicom.dcmread(path, stop_before_pixels=True)
        study = next(s for s in deployed["summary"]["studies"] if s["study_instance_uid"] == source.StudyInstanceUID)
        sr = hd.sr.srread(study["sr_file"])
        assert sr.StudyInstanceUID == source.StudyInstanceUID and sr.PatientID == source.PatientID
        evidence = {i.ReferencedSOPInstanceUID for s in sr.CurrentRequestedProcedureEvidenceSequence
                    for r in s.ReferencedSeriesSequence for i in r.ReferencedSOPSequence}
        assert source.SOPInstanceUID in evidence
        found = [f for f in read_dicom_sr_findings(study["sr_file"]) if f["sop_instance_uid"] == source.SOPInstanceUID]
        cls_runner = runners["classification"]
        expected = class_probabilities(cls_runner(path), [str(c) for c in cls_runner.get("classes")])
        (got,) = [f for f in found if f["kind"] == "classification"]
        assert got["class"] == expected["prediction"] == image["classification"]["prediction"]
        for name, p in expected["probabilities"].items():
            assert got["probabilities"][name] == pytest.approx(p, abs=1e-5)
        det_runner = runners["detection"]
        candidates = detection_candidates(det_runner(path), [str(c) for c in det_runner.get("classes")], threshold)
        reported = [c for c in candidates if c["in_mask"]]
        got = sorted((f for f in found if f["kind"] == "candidate"), key=lambda f: -f["score"])
        assert [f["box"] for f in got] == [[int(v) for v in c["box"]] for c in reported]
        assert [f["class"] for f in got] == [c["class"] for c in reported]
        np.testing.assert_allclose([f["score"] for f in got], [c["score"] for c in reported], atol=1e-5)
        assert len(image["detection"]["candidates"]) == len(candidates)  # the JSON keeps them all
        for box in (f["box"] for f in got):
            assert 0 <= box[0] < box[2] <= source.Rows and 0 <= box[1] < box[3] <= source.Columns


def test_monochrome1_film_gives_the_same_results_as_its_monochrome2_twin(deployed):
    import highdicom as hd

    files, images = deployed["files"], deployed["images"]
    mono1, twin = images[str(files["mono1"])], images[str(files["twin"])]
    assert (mono1["photometric_interpretation"], twin["photometric_interpretation"]) == ("MONOCHROME1",
                                                                                           "MONOCHROME2")
    masks = [hd.seg.segread(im["seg_file"]).get_pixels_by_source_instance(
        [im["sop_instance_uid"]], combine_segments=True)[0] for im in (mono1, twin)]
    np.testing.assert_array_equal(masks[0], masks[1])
    for name, p in mono1["classification"]["probabilities"].items():
        assert twin["classification"]["probabilities"][name] == pytest.approx(p, abs=1e-5)
    assert [c["box"] for c in mono1["detection"]["candidates"]] == [c["box"] for c in twin["detection"]["candidates"]]


@pytest.mark.shared
def test_real_cbis_ddsm_films_keep_their_geometry_and_laterality(deployed):
    files = deployed["files"]
    if not files["real"]:
        pytest.skip(f"real data not available: {CBIS} is missing")
    for path in files["real"]:
        image = deployed["images"][str(path)]
        source = pydicom.dcmread(path, stop_before_pixels=True)
        assert (image["rows"], image["columns"]) == (source.Rows, source.Columns)
        assert image["laterality"] == source.Laterality and image["view"] in ("CC", "MLO")
        found = read_dicom_sr_findings(next(s["sr_file"] for s in deployed["summary"]["studies"]
                                            if s["study_instance_uid"] == source.StudyInstanceUID))
        assert {f.get("laterality") for f in found if f.get("laterality")} <= {source.Laterality}


def test_a_second_run_into_the_same_output_folder_is_refused(deployed, monkeypatch):
    from mammo_monai.deploy.app import MammographyDeployApp

    before = _tree_digest(deployed["out"])
    # the paths as a MAP passes them
    for name, key in (("INPUT", "root"), ("OUTPUT", None), ("MODEL", None)):
        value = deployed["files"]["root"] if key else deployed["out"] if name == "OUTPUT" else deployed["models"]
        monkeypatch.setenv(f"HOLOSCAN_{name}_PATH", str(value))
    monkeypatch.setenv("MAMMO_DEPLOY_SETTINGS", deployed["env"]["MAMMO_DEPLOY_SETTINGS"])
    monkeypatch.setattr(sys, "argv", ["mammo_monai.deploy"])
    app = MammographyDeployApp()
    with pytest.raises(FileExistsError, match="holds an earlier run"):
        app.compose()
    assert _tree_digest(deployed["out"]) == before


def test_app_yaml_is_read_by_the_holoscan_packager():
    from holoscan_cli.packager.config_reader import ApplicationConfiguration

    config = ApplicationConfiguration()
    config.read(REPO_ROOT / "mammo_monai" / "deploy" / "app.yaml")
    assert config.title().startswith("mammo-monai")
    resources = config._resource_object
    assert resources["cpu"] >= 1 and str(resources["memory"]).endswith("Gi")


def test_the_app_folder_runs_as_the_packager_runs_it(deployed, tmp_path):
    """``python <app folder>`` (a MAP's command) on a folder with one film, via the environment variables."""
    film = deployed["files"]["full"][0]
    shutil.copy(film, tmp_path / film.name)
    env = {**deployed["env"], "HOLOSCAN_INPUT_PATH": str(tmp_path), "HOLOSCAN_OUTPUT_PATH": str(tmp_path / "out"),
           "HOLOSCAN_MODEL_PATH": str(deployed["models"])}
    run = subprocess.run([sys.executable, str(REPO_ROOT / "mammo_monai" / "deploy")], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["images"] == 1 and summary["studies"][0]["images"][0]["seg_file"]
