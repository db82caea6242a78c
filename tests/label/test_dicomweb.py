"""The app over a real DICOMweb server: Orthanc (127.0.0.1, throwaway storage) loaded with the real CBIS-DDSM
films and synthetic MG DICOM (MONOCHROME1) beside a non-MG series; the app lists the MG series only, infers on
the DICOM itself (its MONOCHROME1 and VOI handling, not MONAI Label's NIfTI conversion), answers on the film's
grid, and saves the label back to Orthanc as a DICOM SEG that references the film."""

from __future__ import annotations

import pytest

pytest.importorskip("monailabel", reason="MONAI Label is not installed here: the app's tests run in .venv-label "
                    "(bash scripts/test_label.sh sets it up and runs them)")

import io
import shutil
from pathlib import Path

import numpy as np
import pydicom
import requests
from PIL import Image

from mammo_monai.data.synthetic.anatomy import LesionSpec, render_mammogram, to_uint16
from mammo_monai.inference.bundle import BundleInference, default_bundles_dir
from mammo_monai.label.label_files import read_label_mask
from tests.conftest import SHARED_DATA
from tests.io.dicom_factory import write_dicom
from tests.label.orthanc import orthanc, orthanc_missing, upload
from tests.label.server import infer_parts, label_server
from tests.label.studies import FILM_SHAPE, write_random_checkpoints

pytestmark = pytest.mark.skipif(orthanc_missing() is not None, reason=orthanc_missing() or "")

SEG = "mammo_mass_segmentation"
CONFIGS = ["mias_cpu.json"]
CBIS = SHARED_DATA / "dicom" / "cbis-ddsm"


def _films(folder: Path) -> dict[str, Path]:
    """A synthetic MONOCHROME1 MG film (with a mass), an MG film in MONOCHROME2, and a non-MG image."""
    rng = np.random.default_rng(1)
    film = render_mammogram(FILM_SHAPE, "L", "CC", density=2, rng=rng, lesions=[LesionSpec("mass", radius=22.0)])
    pixels = to_uint16(film.image)
    files = {
        "mono1": write_dicom(folder / "mono1.dcm", (65535 - pixels).astype(np.uint16), BitsStored=16,
                             PhotometricInterpretation="MONOCHROME1", PatientID="SYN_1", Laterality="L",
                             ViewPosition="CC"),
        "mono2": write_dicom(folder / "mono2.dcm", pixels, PatientID="SYN_2", Laterality="L", ViewPosition="CC"),
        "other": write_dicom(folder / "other.dcm", pixels, Modality="OT", PatientID="SYN_3"),
    }
    return files


@pytest.fixture(scope="module")
def dicomweb_app(tmp_path_factory):
    root = tmp_path_factory.mktemp("dicomweb")
    files = _films(root / "films")
    cbis = sorted(CBIS.glob("*.dcm")) if CBIS.is_dir() else []
    model_dir = root / "models"
    write_random_checkpoints(model_dir, default_bundles_dir(), [SEG], CONFIGS)
    with orthanc(root / "orthanc") as url:
        series = {name: upload(url, path)["ParentSeries"] for name, path in files.items()}
        for path in cbis:
            upload(url, path)
        uids = {name: requests.get(f"{url}/series/{orthanc_id}", timeout=30).json()["MainDicomTags"]
                ["SeriesInstanceUID"] for name, orthanc_id in series.items()}
        conf = {"model_dir": str(model_dir), "configs": ",".join(CONFIGS), "models": SEG, "device": "cpu"}
        with label_server(f"{url}/dicom-web", conf, root / "server.log") as app_url:
            yield app_url, url, files, uids, cbis, model_dir


def test_lists_the_mg_series_only(dicomweb_app):
    app_url, _, _, uids, cbis, _ = dicomweb_app
    info = requests.get(f"{app_url}/info/", timeout=60).json()
    assert info["datastore"]["total"] == 2 + len(cbis)  # not the Modality OT image
    mammograms = {uids["mono1"], uids["mono2"]} | {str(pydicom.dcmread(p, stop_before_pixels=True).SeriesInstanceUID)
                                                   for p in cbis}
    first = requests.post(f"{app_url}/activelearning/first", json={}, timeout=120).json()
    assert first["id"] == sorted(mammograms)[0]
    for _ in range(5):
        assert requests.post(f"{app_url}/activelearning/random", json={}, timeout=120).json()["id"] in mammograms


def _answer(response: requests.Response, tmp_path: Path) -> tuple[dict, np.ndarray]:
    """The JSON params and the (NIfTI, in the viewer's geometry) label as ``(rows, cols)``."""
    params, label = infer_parts(response)
    path = tmp_path / "label.nii.gz"
    path.write_bytes(label)
    return params, read_label_mask(path)


def test_infers_on_the_dicom_itself_and_answers_on_its_grid(dicomweb_app, tmp_path):
    app_url, _, files, uids, _, model_dir = dicomweb_app
    r = requests.post(f"{app_url}/infer/{SEG}", params={"image": uids["mono1"], "output": "all"}, timeout=300)
    assert r.status_code == 200, r.text
    params, label = _answer(r, tmp_path)
    assert label.shape == FILM_SHAPE == tuple(params["image_shape"])
    with BundleInference(default_bundles_dir() / SEG, model_dir / SEG / "model.pt", configs=CONFIGS,
                         device="cpu") as runner:
        expected = runner(files["mono1"])["pred"].numpy().reshape(FILM_SHAPE).astype(np.uint8)
    np.testing.assert_array_equal(label, expected)  # the MONOCHROME1 file read by the bundle's own reader
    # the same pixels stored as MONOCHROME2 give the same image to the network, so the same answer
    r2 = requests.post(f"{app_url}/infer/{SEG}", params={"image": uids["mono2"], "output": "all"}, timeout=300)
    np.testing.assert_array_equal(_answer(r2, tmp_path)[1], label)


@pytest.mark.shared
def test_infers_on_a_real_cbis_ddsm_film_from_orthanc(dicomweb_app, tmp_path):
    app_url, _, _, _, cbis, _ = dicomweb_app
    if not cbis:
        pytest.skip(f"real data not available: {CBIS} is missing")
    source = pydicom.dcmread(cbis[0], stop_before_pixels=True)
    r = requests.post(f"{app_url}/infer/{SEG}", params={"image": str(source.SeriesInstanceUID), "output": "all"},
                      timeout=300)
    assert r.status_code == 200, r.text
    _, label = _answer(r, tmp_path)
    assert label.shape == (source.Rows, source.Columns)


def test_a_saved_label_goes_back_to_orthanc_as_a_dicom_seg(dicomweb_app, tmp_path):
    import highdicom as hd

    app_url, orthanc_url, files, uids, _, _ = dicomweb_app
    mask = np.zeros(FILM_SHAPE, np.uint8)
    mask[100:150, 60:120] = 1
    png = tmp_path / "label.png"
    Image.fromarray(mask).save(png)
    with open(png, "rb") as f:
        r = requests.put(f"{app_url}/datastore/label", params={"image": uids["mono1"], "tag": "final"},
                         files={"label": ("label.png", f)}, timeout=120)
    assert r.status_code == 200, r.text
    with open(png, "rb") as f:  # a traversal attempt is refused here too
        r = requests.put(f"{app_url}/datastore/label", params={"image": uids["mono1"], "tag": "../x"},
                         files={"label": ("label.png", f)}, timeout=60)
    assert r.status_code == 400
    segs = requests.get(f"{orthanc_url}/dicom-web/series", params={"Modality": "SEG"}, timeout=30).json()
    assert len(segs) == 1
    study, series = segs[0]["0020000D"]["Value"][0], segs[0]["0020000E"]["Value"][0]
    instances = requests.get(f"{orthanc_url}/dicom-web/studies/{study}/series/{series}/instances", timeout=30).json()
    sop = instances[0]["00080018"]["Value"][0]
    raw = requests.get(f"{orthanc_url}/dicom-web/studies/{study}/series/{series}/instances/{sop}",
                       headers={"Accept": 'multipart/related; type="application/dicom"'}, timeout=60)
    from requests_toolbelt.multipart.decoder import MultipartDecoder

    dataset = pydicom.dcmread(io.BytesIO(MultipartDecoder.from_response(raw).parts[0].content))
    seg = hd.seg.Segmentation.from_dataset(dataset)
    film = pydicom.dcmread(files["mono1"], stop_before_pixels=True)
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == film.SeriesInstanceUID == uids["mono1"]
    assert seg.StudyInstanceUID == film.StudyInstanceUID and seg.PatientID == film.PatientID
    assert (seg.Rows, seg.Columns) == FILM_SHAPE
    assert [s.SegmentLabel for s in seg.SegmentSequence] == ["mass", "calcification"]
    pixels = seg.get_pixels_by_source_instance([film.SOPInstanceUID], combine_segments=True)
    np.testing.assert_array_equal(pixels[0], mask)
    # an empty label (a film with no finding) is saved for training but makes no SEG
    Image.fromarray(np.zeros(FILM_SHAPE, np.uint8)).save(png)
    with open(png, "rb") as f:
        r = requests.put(f"{app_url}/datastore/label", params={"image": uids["mono2"], "tag": "final"},
                         files={"label": ("label.png", f)}, timeout=120)
    assert r.status_code == 200, r.text
    assert len(requests.get(f"{orthanc_url}/dicom-web/series", params={"Modality": "SEG"}, timeout=30).json()) == 1
    shutil.rmtree(tmp_path, ignore_errors=True)
