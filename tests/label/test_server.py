"""The app under a real MONAI Label server (127.0.0.1, a subprocess): models and strategies listed, inference on
synthetic and real MIAS films answered on their own pixel grid and equal to the bundle's own inference, labels
saved through the datastore, path-like ids refused, active learning, and a one-epoch training that publishes
a new checkpoint."""

from __future__ import annotations

import pytest

pytest.importorskip("monailabel", reason="MONAI Label is not installed here: the app's tests run in .venv-label "
                    "(bash scripts/test_label.sh sets it up and runs them)")

import hashlib
import io
import json
import shutil
from pathlib import Path

import numpy as np
import requests
from PIL import Image

from mammo_monai.inference.bundle import BundleInference, default_bundles_dir
from tests.conftest import SHARED_DATA
from tests.label.server import infer_parts, label_server, tail, wait_for_training
from tests.label.studies import FILM_SHAPE, write_films, write_random_checkpoints

SEG, DET, CLS = "mammo_mass_segmentation", "mammo_patch_detection", "mammo_image_classification"
CONFIGS = ["mias_cpu.json"]  # the small CPU recipes: the same code path as the defaults, seconds per image
MIAS_IMAGE = SHARED_DATA / "mias" / "mdb001.png"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """``(url, studies, model_dir, masks, log)`` of a running server over 4 synthetic films (+ mdb001 when
    ../shared is there), with freshly initialised checkpoints for the three bundles."""
    root = tmp_path_factory.mktemp("label_app")
    studies = root / "studies"
    masks = write_films(studies)
    # film_1 again as a 2D NIfTI, as ITK (MONAI Label, Slicer) writes it: x = columns
    import SimpleITK as sitk

    sitk.WriteImage(sitk.GetImageFromArray(np.asarray(Image.open(studies / "film_1.png"))),
                    str(studies / "film_1_nifti.nii.gz"))
    if MIAS_IMAGE.is_file():
        shutil.copy(MIAS_IMAGE, studies / MIAS_IMAGE.name)
    model_dir = root / "models"
    write_random_checkpoints(model_dir, default_bundles_dir(), [SEG, DET, CLS], CONFIGS)
    log = root / "server.log"
    with label_server(studies, {"model_dir": str(model_dir), "configs": ",".join(CONFIGS), "device": "cpu"},
                      log) as url:
        yield url, studies, model_dir, masks, log


def infer(url: str, model: str, image: str, output: str = "all") -> requests.Response:
    return requests.post(f"{url}/infer/{model}", params={"image": image, "output": output}, timeout=300)


def multipart(response: requests.Response) -> tuple[dict, np.ndarray | None]:
    """The JSON params and the (PNG) label of an ``output=all`` answer."""
    params, label = infer_parts(response)
    return params, None if label is None else np.asarray(Image.open(io.BytesIO(label)))


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_info_lists_models_trainers_and_strategies(app):
    url = app[0]
    info = requests.get(f"{url}/info/", timeout=30).json()
    assert set(info["models"]) == {SEG, DET, CLS}
    assert info["models"][SEG]["type"] == "segmentation" and info["models"][SEG]["labels"] == {"mass": 1}
    assert info["models"][DET]["labels"] == {"mass": 1, "calcification": 2}
    assert info["models"][CLS]["labels"] == ["normal", "abnormal"]  # mias_cpu: the 'abnormal' task
    assert set(info["trainers"]) == {SEG, DET, CLS}
    assert set(info["strategies"]) == {"random", "first", "uncertainty"}
    assert info["datastore"]["total"] == 5 + MIAS_IMAGE.is_file()


def test_segmentation_answer_is_the_bundles_own_result_on_the_films_grid(app):
    url, studies, model_dir = app[:3]
    response = infer(url, SEG, "film_0")
    assert response.status_code == 200, response.text
    params, label = multipart(response)
    assert label.shape == FILM_SHAPE  # (rows, cols) of a non-square film: not transposed
    assert params["image_shape"] == list(FILM_SHAPE)
    with BundleInference(default_bundles_dir() / SEG, model_dir / SEG / "model.pt", configs=CONFIGS,
                         device="cpu") as runner:
        expected = runner(studies / "film_0.png")["pred"].numpy().reshape(FILM_SHAPE)
    np.testing.assert_array_equal(label, expected.astype(np.uint8))
    assert params["foreground_pixels"] == int((expected > 0).sum())


def test_a_nifti_study_is_answered_in_its_own_geometry(app, tmp_path):
    url = app[0]
    png = multipart(infer(url, SEG, "film_1"))[1]
    response = infer(url, SEG, "film_1_nifti")
    assert response.status_code == 200, response.text
    params, label = infer_parts(response)
    (tmp_path / "label.nii.gz").write_bytes(label)
    from mammo_monai.label.label_files import read_label_mask

    np.testing.assert_array_equal(read_label_mask(tmp_path / "label.nii.gz", FILM_SHAPE), png)
    assert params["image_shape"] == list(FILM_SHAPE)


def test_detection_returns_candidates_in_the_films_pixels_and_their_mask(app):
    url = app[0]
    response = infer(url, DET, "film_2")
    assert response.status_code == 200, response.text
    params, label = multipart(response)
    assert label.shape == FILM_SHAPE
    rows, cols = FILM_SHAPE
    for c in params["candidates"]:
        assert 0 <= c["center"][0] < rows and 0 <= c["center"][1] < cols
        assert c["point_xy"] == [c["center"][1], c["center"][0]]
        r0, c0, r1, c1 = c["box"]
        assert 0 <= r0 < r1 <= rows and 0 <= c0 < c1 <= cols
        assert c["class"] in ("mass", "calcification") and c["label"] in (1, 2)
    drawn = [c for c in params["candidates"] if c["in_mask"]]
    assert bool(label.any()) == bool(drawn)
    for c in drawn:  # the strongest candidate's box carries its class
        if c is drawn[0]:
            r0, c0, r1, c1 = c["box"]
            assert (label[r0:r1, c0:c1] == c["label"]).all()
    scores = [c["score"] for c in params["candidates"]]
    assert scores == sorted(scores, reverse=True)


def test_classification_returns_probabilities(app):
    url = app[0]
    response = infer(url, CLS, "film_1", output="json")
    assert response.status_code == 200, response.text
    result = response.json()
    assert set(result["probabilities"]) == {"normal", "abnormal"}
    assert sum(result["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    assert result["prediction"] in result["probabilities"]


@pytest.mark.skipif(not MIAS_IMAGE.is_file(), reason=f"real data not available: {MIAS_IMAGE} is missing")
def test_segmentation_and_detection_on_a_real_mias_film(app):
    url = app[0]
    with Image.open(MIAS_IMAGE) as im:
        shape = im.size[::-1]
    for model in (SEG, DET):
        response = infer(url, model, "mdb001")
        assert response.status_code == 200, response.text
        params, label = multipart(response)
        assert label.shape == shape == tuple(params["image_shape"])


def test_path_like_ids_and_tags_are_refused_and_nothing_is_written_outside(app, tmp_path):
    url, studies = app[:2]
    before = sorted(p.name for p in studies.parent.iterdir())
    png = tmp_path / "label.png"
    Image.fromarray(np.zeros(FILM_SHAPE, np.uint8)).save(png)
    with open(png, "rb") as f:
        r = requests.put(f"{url}/datastore/label", params={"image": "film_1", "tag": "../../escaped"},
                         files={"label": ("label.png", f)}, timeout=30)
    assert r.status_code == 400 and "label tag" in r.json()["detail"]
    with open(png, "rb") as f:
        r = requests.put(f"{url}/datastore/image", params={"image": "../escaped"}, files={"file": ("x.png", f)},
                         timeout=30)
    assert r.status_code == 400
    with open(png, "rb") as f:  # an existing image is not replaced
        r = requests.put(f"{url}/datastore/image", params={"image": "film_1"}, files={"file": ("x.png", f)},
                         timeout=30)
    assert r.status_code == 409
    assert infer(url, SEG, "../studies/film_1").status_code == 400
    assert infer(url, SEG, str(studies / "film_1.png")).status_code == 400  # a server path is not read
    assert infer(url, SEG, "no_such_image").status_code == 404
    assert requests.delete(f"{url}/datastore/image", params={"id": "film_3"}, timeout=30).status_code == 403
    assert (studies / "film_3.png").is_file()
    assert sorted(p.name for p in studies.parent.iterdir()) == before
    assert not list(studies.rglob("escaped*"))


def test_labels_are_saved_then_active_learning_and_training_use_them(app, tmp_path):
    url, studies, model_dir, masks, log = app
    for image_id in ("film_0", "film_2"):  # the two films with a mass: two patients
        png = tmp_path / f"{image_id}.png"
        Image.fromarray(masks[image_id]).save(png)
        with open(png, "rb") as f:
            r = requests.put(f"{url}/datastore/label", params={"image": image_id, "tag": "final"},
                             files={"label": (png.name, f)}, timeout=30)
        assert r.status_code == 200, r.text
        saved = np.asarray(Image.open(studies / "labels" / "final" / f"{image_id}.png"))
        np.testing.assert_array_equal(saved, masks[image_id])
    unlabelled = {"film_1", "film_1_nifti", "film_3"} | ({"mdb001"} if MIAS_IMAGE.is_file() else set())

    first = requests.post(f"{url}/activelearning/first", json={}, timeout=60).json()
    assert first["id"] == sorted(unlabelled)[0]
    assert requests.post(f"{url}/activelearning/random", json={}, timeout=60).json()["id"] in unlabelled
    uncertain = requests.post(f"{url}/activelearning/uncertainty", json={}, timeout=300).json()
    assert uncertain["id"] in unlabelled and 0.0 <= uncertain["uncertainty"] <= 1.0
    assert uncertain["scored"] == len(unlabelled)

    checkpoint = model_dir / SEG / "model.pt"
    old = sha(checkpoint)
    r = requests.post(f"{url}/train/{SEG}", json={"max_epochs": 1}, timeout=60)
    assert r.status_code == 200, r.text
    task = wait_for_training(url)
    assert task["status"] == "DONE", tail(log)
    assert sha(checkpoint) != old
    assert sha(model_dir / SEG / "model_previous.pt") == old
    runs = list((model_dir / SEG / "train").iterdir())
    split = json.loads((runs[-1] / "datalist.json").read_text())
    assert {Path(i["image"]).stem for i in split["training"]} | {Path(i["image"]).stem for i in split["validation"]} \
        == {"film_0", "film_2"}
    assert split["training"] and split["validation"]
    response = infer(url, SEG, "film_1")  # the new weights are served
    assert response.status_code == 200, response.text


def test_the_detector_and_the_classifier_fine_tune_on_the_same_labels(app):
    """After the labels of the test above: one epoch each for the other two bundles (the classifier's
    ``abnormal`` task reads the lesions made from the masks)."""
    url, _, model_dir, _, log = app
    for model in (DET, CLS):
        old = sha(model_dir / model / "model.pt")
        r = requests.post(f"{url}/train/{model}", json={"max_epochs": 1}, timeout=60)
        assert r.status_code == 200, r.text
        task = wait_for_training(url)
        assert task["status"] == "DONE", tail(log)
        assert sha(model_dir / model / "model.pt") != old
