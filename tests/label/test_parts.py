"""The app's parts without a server: id checks, label files in the viewer's geometry, the datastore's refusals,
labelled items for training, the uncertainty score."""

from __future__ import annotations

import pytest

pytest.importorskip("monailabel", reason="MONAI Label is not installed here: the app's tests run in .venv-label "
                    "(bash scripts/test_label.sh sets it up and runs them)")

import numpy as np
import SimpleITK as sitk
import torch
from fastapi import HTTPException
from PIL import Image

from mammo_monai.evaluation.inputs import file_stem
from mammo_monai.inference.bundle import writer_indices
from mammo_monai.label.datastore import CheckedLocalDatastore
from mammo_monai.label.ids import check_id, is_safe_id
from mammo_monai.label.label_files import read_label_mask, write_label_like
from mammo_monai.label.strategies import mask_disagreement
from mammo_monai.label.train import labelled_items

SHAPE = (40, 64)  # (rows, cols), not square


@pytest.mark.parametrize("value", ["mdb001", "film_0", "1.2.840.113619.2.55.3", "final", "Mass-Test_P_00173"])
def test_plain_names_pass(value):
    assert is_safe_id(value) and check_id(value) == value


@pytest.mark.parametrize("value", ["../x", "..", "a/b", "/etc/passwd", "a\\b", "", "x\x00", "..hidden", "x.",
                                   None, 3])
def test_path_like_values_are_refused_with_400(value):
    assert not is_safe_id(value)
    with pytest.raises(HTTPException) as e:
        check_id(value, "label tag")
    assert e.value.status_code == 400 and "label tag" in e.value.detail


def test_raster_label_keeps_rows_and_cols(tmp_path):
    Image.fromarray(np.zeros(SHAPE, np.uint8)).save(tmp_path / "img.png")
    mask = np.zeros(SHAPE, np.uint8)
    mask[5:10, 50:60] = 1
    path = write_label_like(mask, tmp_path / "img.png", tmp_path / "out")
    np.testing.assert_array_equal(np.asarray(Image.open(path)), mask)
    np.testing.assert_array_equal(read_label_mask(path, SHAPE), mask)
    with pytest.raises(ValueError, match="mask"):
        write_label_like(mask.T, tmp_path / "img.png", tmp_path / "out")


def test_nifti_label_takes_the_references_geometry(tmp_path):
    """A viewer's 2D image as ITK reads it (x = cols, y = rows, one slice) with its spacing and origin: the label
    comes back on the same grid, and a label saved that way reads back as (rows, cols)."""
    reference = sitk.GetImageFromArray(np.zeros((1, *SHAPE), np.int16))
    reference.SetSpacing((0.07, 0.05, 1.0))
    reference.SetOrigin((10.0, -4.0, 0.0))
    sitk.WriteImage(reference, str(tmp_path / "img.nii.gz"))
    mask = np.zeros(SHAPE, np.uint8)
    mask[30:35, 2:9] = 2
    path = write_label_like(mask, tmp_path / "img.nii.gz", tmp_path / "out")
    label = sitk.ReadImage(path)
    assert label.GetSize() == (SHAPE[1], SHAPE[0], 1)
    assert label.GetSpacing() == pytest.approx((0.07, 0.05, 1.0)) and label.GetOrigin() == pytest.approx((10, -4, 0))
    np.testing.assert_array_equal(read_label_mask(path, SHAPE), mask)


def test_a_label_of_another_shape_is_refused_naming_the_file(tmp_path):
    Image.fromarray(np.zeros(SHAPE[::-1], np.uint8)).save(tmp_path / "t.png")
    with pytest.raises(ValueError, match=r"t\.png.*transposed"):
        read_label_mask(tmp_path / "t.png", SHAPE)
    Image.fromarray(np.zeros((*SHAPE, 3), np.uint8)).save(tmp_path / "rgb.png")
    with pytest.raises(ValueError, match="colour"):
        read_label_mask(tmp_path / "rgb.png", SHAPE)
    (tmp_path / "bad.nii.gz").write_bytes(b"not an image")
    with pytest.raises(ValueError, match="bad.nii.gz"):
        read_label_mask(tmp_path / "bad.nii.gz", SHAPE)


def _store(tmp_path, n=3):
    studies = tmp_path / "studies"
    studies.mkdir()
    for k in range(n):
        Image.fromarray(np.full(SHAPE, 40 * k, np.uint8)).save(studies / f"img_{k}.png")
    return studies, CheckedLocalDatastore(str(studies), extensions=["*.png"])


def test_datastore_refuses_paths_overwrites_and_deletes(tmp_path):
    studies, store = _store(tmp_path)
    label = tmp_path / "l.png"
    Image.fromarray(np.zeros(SHAPE, np.uint8)).save(label)
    for call in (lambda: store.save_label("img_0", str(label), "../../x", {}),
                 lambda: store.save_label("../img_0", str(label), "final", {}),
                 lambda: store.add_image("../x", str(label), {}),
                 lambda: store.get_label_uri("img_0", "../final")):
        with pytest.raises(HTTPException) as e:
            call()
        assert e.value.status_code == 400
    with pytest.raises(HTTPException) as e:
        store.add_image("img_0", str(label), {})
    assert e.value.status_code == 409
    with pytest.raises(HTTPException) as e:
        store.remove_image("img_1")
    assert e.value.status_code == 403 and (studies / "img_1.png").is_file()
    with pytest.raises(HTTPException) as e:
        store.save_label("nope", str(label), "final", {})
    assert e.value.status_code == 404
    assert store.save_label("img_0", str(label), "final", {}) == "img_0"
    assert not list(tmp_path.glob("x*"))


def test_labelled_items_turn_labels_into_lesions_and_report_bad_ones(tmp_path):
    _, store = _store(tmp_path)
    mask = np.zeros(SHAPE, np.uint8)
    mask[5:15, 5:15] = 1
    mask[30:33, 40:44] = 2
    good, empty, wrong = tmp_path / "good.png", tmp_path / "empty.png", tmp_path / "wrong.png"
    Image.fromarray(mask).save(good)
    Image.fromarray(np.zeros(SHAPE, np.uint8)).save(empty)
    Image.fromarray(np.zeros(SHAPE[::-1], np.uint8)).save(wrong)
    for image_id, path in (("img_0", good), ("img_1", empty), ("img_2", wrong)):
        store.save_label(image_id, str(path), "final", {})
    items, problems = labelled_items(store, tmp_path / "run")
    by_id = {i["label_id"]: i for i in items}
    assert set(by_id) == {"img_0", "img_1"}
    assert len(problems) == 1 and problems[0].startswith("img_2:") and "transposed" in problems[0]
    lesions = sorted(by_id["img_0"]["lesions"], key=lambda lesion: lesion["type"])
    assert [lesion["type"] for lesion in lesions] == ["calcification", "mass"]
    assert lesions[1]["box"] == [5, 5, 15, 15]
    assert by_id["img_1"]["lesions"] == [] and by_id["img_1"]["pathology"] == "normal"
    assert by_id["img_0"]["patient_id"] == "img_0"  # no DICOM PatientID: each image its own patient
    # the ids labelled_items derives keep a DICOM UID's dots (the DICOMweb cache's <series uid>.nii.gz)
    assert file_stem("/cache/1.2.826.0.1.3680043.nii.gz") == "1.2.826.0.1.3680043"
    np.testing.assert_array_equal(np.asarray(Image.open(by_id["img_0"]["label"])), mask)


def test_writer_indices_and_disagreement():
    assert writer_indices([{"_target_": "Activationsd"}, "$x", {"_target_": "SaveImaged"},
                           {"_target_": "mammo_monai.inference.SaveDetectionsd"}]) == [2, 3]
    a = torch.zeros(4, 4, dtype=torch.bool)
    b = a.clone()
    b[:2, :2] = True
    c = a.clone()
    c[:2, :1] = True
    assert mask_disagreement([a, a, a]) == 0.0
    assert mask_disagreement([b, c]) == pytest.approx(1 - 2 * 2 / 6)
    assert mask_disagreement([a, b]) == 1.0


def test_uncertainty_scores_by_tta_and_mc_dropout(tmp_path):
    from mammo_monai.inference.bundle import BundleInference, default_bundles_dir
    from mammo_monai.label.strategies import TestTimeUncertainty
    from tests.label.studies import write_films, write_random_checkpoints

    write_films(tmp_path / "studies", n=1)
    name = "mammo_mass_segmentation"
    write_random_checkpoints(tmp_path / "models", default_bundles_dir(), [name], ["mias_cpu.json"])
    film = tmp_path / "studies" / "film_0.png"
    with BundleInference(default_bundles_dir() / name, tmp_path / "models" / name / "model.pt",
                         configs=["mias_cpu.json"], device="cpu") as runner:
        for method in ("tta", "dropout"):  # the mias_cpu UNet has dropout 0.1
            assert 0.0 <= TestTimeUncertainty(runner, method=method, samples=3).score(film) <= 1.0
        assert all(not m.training for m in runner.network.modules())  # dropout switched off again
    write_random_checkpoints(tmp_path / "default", default_bundles_dir(), [name], [])
    with BundleInference(default_bundles_dir() / name, tmp_path / "default" / name / "model.pt",
                         device="cpu") as plain, pytest.raises(ValueError, match="no dropout layer"):
        TestTimeUncertainty(plain, method="dropout").score(film)
