"""Segmentation evaluation: metric values and empty-mask conventions, prediction matching, problems, reports."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

from mammo_monai.evaluation.report import CAPTION_HEIGHT
from mammo_monai.evaluation.segmentation import (
    REPORT_FILES,
    binarize_prediction,
    evaluate_segmentation,
    file_stem,
    format_segmentation_summary,
    match_prediction_folder,
    segmentation_metrics,
)

SHAPE = (40, 30)


def _square(r0: int, c0: int, size: int, shape=SHAPE) -> np.ndarray:
    mask = np.zeros(shape, bool)
    mask[r0:r0 + size, c0:c0 + size] = True
    return mask


def _png(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array)).save(path)
    return path


def _image(seed: int, shape=SHAPE) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _nifti(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(np.asarray(array, np.float32), np.eye(4)), str(path))
    return path


@pytest.fixture
def study(tmp_path: Path) -> dict:
    """Five PNG images of three patients, their label masks, and predictions in every folder layout.

    =======  =======  =========  ===================  =============================================
    image    patient  pathology  ground truth         prediction (layout)
    =======  =======  =========  ===================  =============================================
    img_a1   A        benign     square 10 at (10,10)  the same, 0/255 PNG (flat ``img_a1.png``)
    img_a2   A        benign     square 10 at (10,10)  shifted 2 columns, 0/1 (``img_a2_seg.png``)
    img_b1   B        malignant  square 8 at (20,5)    probabilities, NIfTI (``img_b1/img_b1_seg.nii.gz``)
    img_c1   C        normal     none (no ``label``)   empty (``img_c1_pred.tif``)
    img_c2   C        normal     none (no ``label``)   a 3x3 false positive (``img_c2/whatever.png``)
    =======  =======  =========  ===================  =============================================
    """
    images, labels, preds = tmp_path / "images", tmp_path / "labels", tmp_path / "preds"
    truth = {"img_a1": _square(10, 10, 10), "img_a2": _square(10, 10, 10), "img_b1": _square(20, 5, 8)}
    items = []
    for i, (stem, patient, pathology) in enumerate(
        [("img_a1", "A", "benign"), ("img_a2", "A", "benign"), ("img_b1", "B", "malignant"),
         ("img_c1", "C", "normal"), ("img_c2", "C", "normal")]
    ):
        item = {"image": str(_png(images / f"{stem}.png", _image(i))), "patient_id": patient, "pathology": pathology}
        if stem in truth:
            item["label"] = str(_png(labels / f"{stem}_mask.png", truth[stem].astype(np.uint8)))
        items.append(item)
    datalist = tmp_path / "datalist.json"
    datalist.write_text(json.dumps({"training": [], "validation": [], "test": items}))

    _png(preds / "img_a1.png", truth["img_a1"].astype(np.uint8) * 255)
    _png(preds / "img_a2_seg.png", _square(10, 12, 10).astype(np.uint8))
    prob = np.where(truth["img_b1"], 0.9, 0.1).astype(np.float32)
    prob[20, 5] = 0.4  # one corner pixel below the threshold
    _nifti(preds / "img_b1" / "img_b1_seg.nii.gz", prob)
    _png(preds / "img_c1_pred.tif", np.zeros(SHAPE, np.uint8))
    _png(preds / "img_c2" / "whatever.png", _square(2, 2, 3).astype(np.uint8) * 255)
    return {"root": tmp_path, "datalist": datalist, "preds": preds, "items": items, "truth": truth}


# --------------------------------------------------------------------------------------------- metrics


def test_metrics_on_hand_made_masks():
    label = _square(10, 10, 10)
    m = segmentation_metrics(_square(10, 12, 10), label)
    assert (m["tp"], m["fp"], m["fn"]) == (80, 20, 20)
    assert m["dice"] == pytest.approx(160 / 200)
    assert m["iou"] == pytest.approx(80 / 120)
    assert m["hd95_px"] == pytest.approx(2.0)
    assert math.isnan(m["hd95_mm"])
    identical = segmentation_metrics(label, label, spacing=0.1)
    assert (identical["dice"], identical["iou"], identical["hd95_px"], identical["hd95_mm"]) == (1.0, 1.0, 0.0, 0.0)


def test_hd95_in_pixels_and_anisotropic_mm():
    label = np.zeros(SHAPE, bool)
    label[5, 5] = True
    pred = np.zeros(SHAPE, bool)
    pred[5, 9] = True  # 4 columns away
    m = segmentation_metrics(pred, label, spacing=(0.5, 2.0))
    assert m["dice"] == 0.0 and m["iou"] == 0.0
    assert m["hd95_px"] == pytest.approx(4.0)
    assert m["hd95_mm"] == pytest.approx(8.0)  # columns are 2 mm apart


def test_dice_iou_agree_with_pixel_counts_on_random_masks():
    rng = np.random.default_rng(0)
    for _ in range(5):
        pred, label = rng.random((50, 40)) > 0.7, rng.random((50, 40)) > 0.6
        m = segmentation_metrics(pred, label)
        tp, fp, fn = m["tp"], m["fp"], m["fn"]
        assert tp == np.sum(pred & label) and fp == np.sum(pred & ~label) and fn == np.sum(~pred & label)
        assert m["dice"] == pytest.approx(2 * tp / (2 * tp + fp + fn), abs=1e-6)
        assert m["iou"] == pytest.approx(tp / (tp + fp + fn), abs=1e-6)


@pytest.mark.parametrize(
    "pred_empty, gt_empty, dice, hd95",
    [(True, True, 1.0, 0.0), (False, True, 0.0, math.nan), (True, False, 0.0, math.nan)],
)
def test_empty_mask_conventions(pred_empty, gt_empty, dice, hd95):
    blob = _square(3, 3, 4)
    empty = np.zeros(SHAPE, bool)
    m = segmentation_metrics(empty if pred_empty else blob, empty if gt_empty else blob, spacing=1.0)
    assert m["dice"] == dice and m["iou"] == dice
    assert (math.isnan(m["hd95_px"]) and math.isnan(hd95)) or m["hd95_px"] == hd95
    assert (m["gt_empty"], m["pred_empty"]) == (gt_empty, pred_empty)


def test_metrics_refuse_different_shapes():
    with pytest.raises(ValueError, match="shape"):
        segmentation_metrics(np.zeros((4, 5)), np.zeros((5, 4)))


def test_binarize_reads_the_scale_from_the_data():
    assert binarize_prediction(np.array([0, 1], np.uint8)).tolist() == [False, True]
    assert binarize_prediction(np.array([0, 127, 128, 255], np.uint8)).tolist() == [False, False, True, True]
    assert binarize_prediction(np.array([0.1, 0.5, 0.9]), threshold=0.5).tolist() == [False, True, True]
    assert binarize_prediction(np.array([0.1, 0.5, 0.9]), threshold=0.6).tolist() == [False, False, True]
    assert binarize_prediction(np.array([0, 40000, 65535], np.uint16)).tolist() == [False, True, True]
    with pytest.raises(ValueError):
        binarize_prediction(np.array([-2.0, 3.0]))  # logits
    with pytest.raises(ValueError):
        binarize_prediction(np.array([0.0, 300.0]))


# -------------------------------------------------------------------------------------------- matching


def test_file_stem():
    assert file_stem("/a/b/x.nii.gz") == "x" and file_stem("y.png") == "y" and file_stem("z_seg.NII.GZ") == "z_seg"


def test_folder_matching_rules(tmp_path: Path):
    for name in ["flat.png", "seg_seg.tif", "pred_pred.png", "monai/monai_seg.nii.gz", "sub/mask.png",
                 "both.png", "both_seg.png", "deep/deeper/nested.png", "notes.txt", "tie.png", "tie.tiff",
                 "nested/nested.png"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).touch()
    found = match_prediction_folder(tmp_path, ["flat", "seg", "pred", "monai", "sub", "both", "nested", "notes",
                                               "tie", "absent"])
    got = {stem: (f and f.relative_to(tmp_path).as_posix(), kind) for stem, (f, kind, _) in found.items()}
    assert got == {
        "flat": ("flat.png", "exact"),
        "seg": ("seg_seg.tif", "_seg"),
        "pred": ("pred_pred.png", "_pred"),
        "monai": ("monai/monai_seg.nii.gz", "_seg"),  # MONAI SaveImage: <out>/<stem>/<stem>_seg.<ext>
        "sub": ("sub/mask.png", "subfolder"),
        "both": ("both.png", "exact"),  # an exact name beats _seg
        "nested": ("nested/nested.png", "exact"),  # the shallowest exact match
        "notes": (None, None),  # not a mask suffix
        "tie": ("tie.png", "exact"),  # suffix order decides, and the tie is reported
        "absent": (None, None),
    }
    assert [p.name for p in found["tie"][2]] == ["tie.tiff"]
    assert found["flat"][2] == []


def test_monai_saveimage_layout_is_found_and_reads_back_on_the_image_grid(tmp_path: Path):
    from monai.transforms import LoadImage, SaveImage

    from mammo_monai.io import MammogramReader

    mask = _square(5, 3, 6).astype(np.uint8)
    image = _png(tmp_path / "img" / "case_07.png", mask)
    loaded = LoadImage(reader=MammogramReader(), ensure_channel_first=True, image_only=True)(image)
    SaveImage(output_dir=tmp_path / "out", output_postfix="seg", output_ext=".nii.gz", separate_folder=True,
              print_log=False)(loaded)
    file, kind, _ = match_prediction_folder(tmp_path / "out", ["case_07"])["case_07"]
    assert kind == "_seg" and file.name == "case_07_seg.nii.gz"
    datalist = tmp_path / "dl.json"
    datalist.write_text(json.dumps({"test": [{"image": str(image), "label": str(image), "patient_id": "p"}]}))
    report = evaluate_segmentation(tmp_path / "out", datalist, tmp_path / "report", n_resamples=50, overlays=0)
    assert report.rows[0]["status"] == "ok" and report.rows[0]["dice"] == 1.0


# ---------------------------------------------------------------------------------------- end to end


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_evaluate_a_prediction_folder(study: dict, tmp_path: Path):
    out = tmp_path / "report"
    report = evaluate_segmentation(study["preds"], study["datalist"], out, n_resamples=200, overlays=2)
    rows = {Path(r["image"]).stem: r for r in report.rows}
    assert [r["status"] for r in report.rows] == ["ok"] * 5
    assert {s: r["match"] for s, r in rows.items()} == {
        "img_a1": "exact", "img_a2": "_seg", "img_b1": "_seg", "img_c1": "_pred", "img_c2": "subfolder"}
    assert rows["img_a1"]["dice"] == 1.0 and rows["img_a1"]["hd95_px"] == 0.0
    assert rows["img_a2"]["dice"] == pytest.approx(0.8)
    assert rows["img_b1"]["tp"] == 63 and rows["img_b1"]["fn"] == 1  # the 0.4 pixel is below threshold
    assert (rows["img_c1"]["dice"], rows["img_c1"]["gt_empty"], rows["img_c1"]["pred_empty"]) == (1.0, True, True)
    assert rows["img_c2"]["dice"] == 0.0 and math.isnan(rows["img_c2"]["hd95_px"]) and rows["img_c2"]["fp"] == 9

    s = report.summary
    assert s["counts"] == {
        "images": 5, "patients": 3, "evaluated": 5, "missing": 0, "missing_by_reason": {}, "gt_empty": 2,
        "pred_empty": 1, "both_empty": 1, "false_positive": 1, "missed": 0, "hd95_undefined": 1, "with_spacing": 0,
    }
    lesion_dice = s["metrics"]["lesion"]["dice"]
    assert lesion_dice["n"] == 3 and lesion_dice["n_patients"] == 2
    assert lesion_dice["mean"] == pytest.approx(np.mean([1.0, 0.8, rows["img_b1"]["dice"]]))
    assert lesion_dice["mean_ci"][0] <= lesion_dice["mean"] <= lesion_dice["mean_ci"][1]
    assert s["metrics"]["all"]["dice"]["n"] == 5 and s["metrics"]["all"]["hd95_px"]["n_nan"] == 1
    assert s["metrics"]["all"]["hd95_mm"]["n"] == 0 and math.isnan(s["metrics"]["all"]["hd95_mm"]["mean"])
    assert set(s["by_pathology"]) == {"normal", "benign", "malignant"}
    assert s["by_pathology"]["normal"]["dice"]["mean"] == 0.5
    assert s["settings"]["n_resamples"] == 200 and s["inputs"]["split"] == "test"

    assert set(report.paths) == set(REPORT_FILES)
    table = _read_csv(out / REPORT_FILES["metrics"])
    assert len(table) == 5 and table[4]["hd95_px"] == "" and table[0]["dice"] == "1.0"
    assert list(table[0])[:4] == ["image", "patient_id", "pathology", "status"]
    saved = json.loads((out / REPORT_FILES["summary"]).read_text())  # strict JSON: NaN written as null
    assert saved["metrics"]["all"]["hd95_mm"]["mean"] is None
    assert saved["counts"] == s["counts"]
    assert _read_csv(out / REPORT_FILES["problems"]) == []
    text = format_segmentation_summary(report)
    assert text.startswith("evaluated 5 of 5 images (3 patients); missing 0")
    assert "pathology=malignant (1 images, 1 patients)" in text and str(out / REPORT_FILES["summary"]) in text


def test_overlay_sheet_size_and_content(study: dict, tmp_path: Path):
    report = evaluate_segmentation(study["preds"], study["datalist"], tmp_path / "r", n_resamples=20, overlays=3)
    with Image.open(report.paths["overlays"]) as sheet:
        assert sheet.size == (3 * 256, CAPTION_HEIGHT + 2 * (256 + CAPTION_HEIGHT))
        pixels = np.asarray(sheet.convert("RGB"))
    green = (pixels[..., 1] > 200) & (pixels[..., 0] < 50)
    red = (pixels[..., 0] > 200) & (pixels[..., 1] < 80)
    assert green.any() and red.any()
    none = evaluate_segmentation(study["preds"], study["datalist"], tmp_path / "r0", n_resamples=20, overlays=0)
    assert "overlays" not in none.paths and not (tmp_path / "r0" / REPORT_FILES["overlays"]).exists()


def test_datalist_with_pred_keys(study: dict, tmp_path: Path):
    # relative paths, resolved from the prediction datalist's folder; image c2 has no prediction
    root = study["root"]
    preds = [
        {"image": "images/img_a1.png", "pred": "preds/img_a1.png"},
        {"image": "images/img_a2.png", "pred": "preds/img_a2_seg.png"},
        {"image": str(root / "images" / "img_b1.png"), "pred": "preds/img_b1/img_b1_seg.nii.gz"},
        {"image": "images/img_c1.png", "pred": "preds/img_c1_pred.tif"},
    ]
    pred_json = root / "predictions.json"
    pred_json.write_text(json.dumps({"test": preds}))
    report = evaluate_segmentation(pred_json, study["datalist"], tmp_path / "r", n_resamples=50, overlays=1)
    assert [r["status"] for r in report.rows] == ["ok", "ok", "ok", "ok", "missing_prediction"]
    assert {r["match"] for r in report.rows[:4]} == {"datalist"}
    assert report.rows[1]["dice"] == pytest.approx(0.8)
    assert report.summary["counts"]["missing"] == 1 and report.summary["inputs"]["pred_kind"] == "datalist"
    problems = _read_csv(tmp_path / "r" / REPORT_FILES["problems"])
    assert [(Path(p["path"]).name, p["kind"]) for p in problems] == [("img_c2.png", "missing_prediction")]


def test_bad_items_are_problems_and_the_rest_is_evaluated(study: dict, tmp_path: Path):
    preds = study["preds"]
    (preds / "img_a2_seg.png").unlink()  # missing prediction
    _png(preds / "img_a1.png", np.zeros((30, 40), np.uint8))  # transposed size
    (preds / "img_b1" / "img_b1_seg.nii.gz").write_bytes(b"not a nifti")  # unreadable
    _png(preds / "img_c1_pred.tif", np.zeros((12, 12), np.uint8))  # wrong size on an image without label
    report = evaluate_segmentation(preds, study["datalist"], tmp_path / "r", n_resamples=50, overlays=2)
    status = {Path(r["image"]).stem: r["status"] for r in report.rows}
    assert status == {"img_a1": "size_mismatch", "img_a2": "missing_prediction", "img_b1": "unreadable_prediction",
                      "img_c1": "size_mismatch", "img_c2": "ok"}
    kinds = {(Path(p.path).name, p.kind) for p in report.problems}
    assert kinds == {("img_a1.png", "size_mismatch"), ("img_a2.png", "missing_prediction"),
                     ("img_b1_seg.nii.gz", "unreadable_prediction"), ("img_c1_pred.tif", "size_mismatch")}
    a1 = next(p for p in report.problems if p.path.endswith("img_a1.png"))
    assert "transposed" in a1.detail and "(30, 40)" in a1.detail
    counts = report.summary["counts"]
    assert counts["evaluated"] == 1 and counts["missing"] == 4
    assert counts["missing_by_reason"] == {"size_mismatch": 2, "missing_prediction": 1, "unreadable_prediction": 1}
    assert report.summary["problems"]["counts"]["size_mismatch"] == 2
    assert len(_read_csv(tmp_path / "r" / REPORT_FILES["problems"])) == 4
    assert (tmp_path / "r" / REPORT_FILES["overlays"]).is_file()
    assert len(report.summary["problems"]["first"]) == 4
    assert "problems: 4 (" in format_segmentation_summary(report)


def test_images_sharing_a_stem_are_not_matched_by_folder(tmp_path: Path):
    items = []
    for patient in ("P1", "P2"):
        image = _png(tmp_path / patient / "1-1.png", _image(0))  # CBIS-DDSM names every image 1-1.dcm
        items.append({"image": str(image), "patient_id": patient})
    _png(tmp_path / "preds" / "1-1.png", np.zeros(SHAPE, np.uint8))
    datalist = tmp_path / "dl.json"
    datalist.write_text(json.dumps({"validation": items}))
    report = evaluate_segmentation(tmp_path / "preds", datalist, tmp_path / "r", split="validation",
                                   n_resamples=10, overlays=1)
    assert [r["status"] for r in report.rows] == ["ambiguous_stem"] * 2
    assert report.problems.counts() == {"ambiguous_stem": 2}
    with Image.open(report.paths["overlays"]) as sheet:  # nothing to show: still a sheet of the usual size
        assert sheet.size == (256, CAPTION_HEIGHT + 2 * (256 + CAPTION_HEIGHT))


def test_hd95_mm_from_dicom_pixel_spacing_or_argument(tmp_path: Path):
    from tests.io.dicom_factory import write_dicom

    image = write_dicom(tmp_path / "img" / "d1.dcm", _image(3).astype(np.uint16), PixelSpacing=[0.1, 0.1])
    label = _png(tmp_path / "d1_mask.png", _square(10, 10, 10).astype(np.uint8))
    _png(tmp_path / "preds" / "d1.png", _square(10, 12, 10).astype(np.uint8))
    datalist = tmp_path / "dl.json"
    datalist.write_text(json.dumps({"test": [{"image": str(image), "label": str(label), "patient_id": "p"}]}))
    row = evaluate_segmentation(tmp_path / "preds", datalist, tmp_path / "r1", n_resamples=10, overlays=1).rows[0]
    assert row["hd95_px"] == pytest.approx(2.0) and row["hd95_mm"] == pytest.approx(0.2)
    row = evaluate_segmentation(tmp_path / "preds", datalist, tmp_path / "r2", spacing=0.05, n_resamples=10,
                                overlays=0).rows[0]
    assert row["hd95_mm"] == pytest.approx(0.1)  # the argument wins over the header


def test_report_files_are_not_overwritten_without_the_flag(study: dict, tmp_path: Path):
    out = tmp_path / "report"
    evaluate_segmentation(study["preds"], study["datalist"], out, n_resamples=10, overlays=1)
    before = {name: (out / name).stat().st_mtime_ns for name in REPORT_FILES.values()}
    with pytest.raises(FileExistsError, match="segmentation_"):
        evaluate_segmentation(study["preds"], study["datalist"], out, n_resamples=10, overlays=1)
    assert before == {name: (out / name).stat().st_mtime_ns for name in REPORT_FILES.values()}
    report = evaluate_segmentation(study["preds"], study["datalist"], out, n_resamples=10, overlays=1, overwrite=True)
    assert report.paths["summary"].is_file()


def test_argument_errors(study: dict, tmp_path: Path):
    with pytest.raises(FileNotFoundError):
        evaluate_segmentation(tmp_path / "nope", study["datalist"], tmp_path / "r")
    with pytest.raises(FileNotFoundError):
        evaluate_segmentation(study["preds"], tmp_path / "nope.json", tmp_path / "r")
    with pytest.raises(ValueError, match="split"):
        evaluate_segmentation(study["preds"], study["datalist"], tmp_path / "r", split="train")
    with pytest.raises(ValueError, match="no item"):
        evaluate_segmentation(study["preds"], study["datalist"], tmp_path / "r", split="training")
    with pytest.raises(ValueError, match="pred"):
        evaluate_segmentation(study["datalist"], study["datalist"], tmp_path / "r")  # a datalist without 'pred'


# ------------------------------------------------------------------------------------------- real data


@pytest.mark.shared
def test_mias_circles_against_dilated_circles(shared_mias: Path, tmp_path: Path):
    from scipy.ndimage import distance_transform_edt

    from mammo_monai.data.mias import index_mias

    result = index_mias(shared_mias, tmp_path / "mias.json", progress=False)
    items = result.datalist["test"]
    preds = tmp_path / "preds"
    preds.mkdir()
    for item in items:
        if "label" not in item:
            continue  # normals without a prediction: reported missing
        gt = np.asarray(Image.open(item["label"])) > 0
        dilated = distance_transform_edt(~gt) <= 4  # every circle grown by 4 pixels
        _png(preds / f"{Path(item['image']).stem}_seg.png", dilated.astype(np.uint8) * 255)
    report = evaluate_segmentation(preds, tmp_path / "mias.json", tmp_path / "report", n_resamples=200, overlays=2)
    ok = [r for r in report.rows if r["status"] == "ok"]
    assert len(ok) == sum("label" in item for item in items) > 0
    assert report.summary["counts"]["missing"] == len(items) - len(ok)
    assert all(0.5 < r["dice"] < 1.0 and r["fn"] == 0 for r in ok)
    assert all(3.0 <= r["hd95_px"] <= 5.0 for r in ok)  # the 4-pixel margin
    lesion = report.summary["metrics"]["lesion"]["dice"]
    assert lesion["mean_ci"][0] <= lesion["mean"] <= lesion["mean_ci"][1]
    assert report.paths["overlays"].is_file()
