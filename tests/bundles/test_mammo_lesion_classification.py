"""Runs the ``mammo_lesion_classification`` bundle's configs for real (tiny, CPU) through ``python -m monai.bundle``.

Every run works on a copy of the bundle in a temporary folder (``--bundle_root``); the embedded default data (a
synthetic CBIS-DDSM-shaped dataset, task ``pathology``: one crop per mass) is generated there once. Overrides keep
it fast: 64 px crops, a small ``DenseNet`` instead of DenseNet121 (``bundle_checks.SPECS``). What every bundle
must satisfy (configs, checkpoints, verify_net_in_out on DenseNet121, verify_metadata, ckpt_export, DDP) is in
``test_bundle_conventions.py``. The imbalance choices and user-supplied weights share the image classifier's
code and are run in its tests.
"""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import pytest

from .bundle_checks import SPECS, config_list, meta_args, run_bundle, run_bundle_status

SPEC = SPECS["mammo_lesion_classification"]
TINY = list(SPEC.tiny)


@pytest.fixture(scope="module")
def bundle(trained_bundle: Callable[[str], Path]) -> Path:
    """The session's copy of the bundle, trained for 2 epochs on the embedded default data (``conftest.py``)."""
    return trained_bundle(SPEC.name)


def _datalist(bundle: Path) -> dict:
    return json.loads((bundle / "data" / "synthetic" / "datalist.json").read_text())


def _infer_args(bundle: Path, output_dir: Path, *extra: str) -> list[str]:
    """``run inferring`` on the fixture's checkpoint (small net, tiny overrides), writing to ``output_dir``."""
    return ["run", "inferring", "--config_file", config_list(bundle, "inference.json", str(bundle / "small_net.json")),
            *meta_args(bundle), *TINY, "--infer_split", "test", "--output_dir", str(output_dir), *extra]


def _probabilities(path: Path) -> list[dict]:
    """The rows of a probabilities CSV, checked: the lesion columns, probabilities in [0, 1] summing to 1."""
    with open(path) as f:
        rows = list(csv.DictReader(f))
    assert rows and set(rows[0]) == {"image", "lesion_index", "prob_benign", "prob_malignant"}
    probs = np.array([[float(r["prob_benign"]), float(r["prob_malignant"])] for r in rows])
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5) and ((probs >= 0) & (probs <= 1)).all()
    return rows


def test_evaluate_writes_metrics_and_probabilities(bundle: Path) -> None:
    run_bundle(["run", "evaluating", "--config_file",
                config_list(bundle, "train.json", "evaluate.json", str(bundle / "small_net.json")),
                *meta_args(bundle), *TINY],
               bundle)
    metrics = (bundle / "eval" / "metrics.csv").read_text()
    assert "val_auc" in metrics and "val_accuracy" in metrics
    with open(bundle / "eval" / "test_probabilities.csv") as f:
        rows = list(csv.DictReader(f))
    assert rows and set(rows[0]) == {"image", "lesion_index", "prob_benign", "prob_malignant"}


def test_inference_probabilities_feed_the_evaluation_cli(bundle: Path, tmp_path: Path) -> None:
    from mammo_monai.cli import main
    from mammo_monai.data.lesion_items import lesion_items

    for split in ("validation", "test"):
        run_bundle(["run", "inferring", "--config_file",
                    config_list(bundle, "inference.json", str(bundle / "small_net.json")),
                    *meta_args(bundle), *TINY, "--infer_split", split], bundle)
    test_csv = bundle / "predictions" / "test_probabilities.csv"
    with open(test_csv) as f:
        rows = list(csv.DictReader(f))
    lesions = lesion_items(_datalist(bundle)["test"], require_position=True)
    assert sorted((r["image"], int(r["lesion_index"])) for r in rows) == sorted(
        (i["image"], i["lesion_index"]) for i in lesions)  # one row per positioned lesion
    probs = np.array([[float(r["prob_benign"]), float(r["prob_malignant"])] for r in rows])
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5) and ((probs >= 0) & (probs <= 1)).all()
    out = tmp_path / "report"
    assert main(["eval", "classification", "--pred", str(test_csv), "--label",
                 str(bundle / "data" / "synthetic" / "datalist.json"), "--out", str(out), "--task", "pathology",
                 "--val_pred", str(bundle / "predictions" / "validation_probabilities.csv"),
                 "--n_resamples", "50"]) == 0
    report = json.loads((out / "classification_metrics.json").read_text())
    assert report["task"]["name"] == "pathology" and report["counts"]["missing"] == 0


def _run_bundle_failing(args: list[str], cwd: Path) -> str:
    """``python -m monai.bundle ARGS`` as :func:`run_bundle` runs it, for a run that must fail: its output."""
    rc, out = run_bundle_status(args, cwd)
    assert rc != 0, f"the run should have failed:\n{out[-3000:]}"
    return out


def _real_cbis_ddsm_tree(dicom_dir: Path, root: Path) -> list[Path]:
    """The 4 real Mass-Test P_00173 mammograms as symlinks in a TCIA-shaped tree (case/StudyUID/SeriesUID/1-1.dcm)."""
    files = sorted((dicom_dir / "cbis-ddsm").glob("Mass-Test_P_00173_*.dcm"))
    assert len(files) == 4
    for f in files:
        ds = pydicom.dcmread(f, stop_before_pixels=True)
        folder = root / f.stem / ds.StudyInstanceUID / ds.SeriesInstanceUID
        folder.mkdir(parents=True)
        (folder / "1-1.dcm").symlink_to(f)
    return files


@pytest.mark.shared
def test_inference_on_real_cbis_ddsm_dicoms(shared_dicom: Path, shared_cbis_csv: Path, bundle: Path,
                                            tmp_path: Path) -> None:
    """Inference smoke test on the real CBIS-DDSM DICOMs (one woman, 4 RLE mammograms of ~13 Mpx, 6 benign masses
    in the real CSVs), indexed with ``index_cbis_ddsm``: without positions the run stops with a clear message;
    with boxes placed by the test it writes one row per lesion, which ``mammo-monai eval classification`` scores.
    A pipeline test, not an accuracy test (a 2-epoch net trained on synthetic 64 px crops)."""
    from mammo_monai.cli import main
    from mammo_monai.data.cbis_ddsm import index_cbis_ddsm
    from mammo_monai.data.labels import label_set

    tree = tmp_path / "tree"
    files = _real_cbis_ddsm_tree(shared_dicom, tree)
    index_cbis_ddsm(tree, shared_cbis_csv, tmp_path / "real.json", progress=False)
    datalist = json.loads((tmp_path / "real.json").read_text())
    lesions = [les for item in datalist["test"] for les in item["lesions"]]
    assert len(datalist["test"]) == 4 and len(lesions) == 6
    assert all(les["box"] is None and les["center"] is None and les["crop"] is None for les in lesions)

    # (a) the real ROI masks and crops are not shipped (../shared/data/dicom/README.md): nothing to crop around
    out = _run_bundle_failing(_infer_args(bundle, tmp_path / "predictions", "--datalist", str(tmp_path / "real.json")),
                              bundle)
    assert "ValueError: no lesion of datalist split 'test' has a position: its 6 lesion(s) on 4 image(s)" in out
    assert "use crop_source 'crop_file'" in out
    with pytest.raises(ValueError, match="no lesion of datalist split 'test' has a crop file"):  # nor crop files
        label_set("pathology").items(datalist["test"], use_crop_files=True, split="test")

    # (b) so the test places each lesion itself: a 300 px box on the centre row, a sixth of the width from the
    # chest wall (left for L, right for R on these films), the second lesion of an image 350 px lower, and checks
    # the box lies on breast tissue (every pixel well above the film background, which is 0)
    for item in datalist["test"]:
        pixels = pydicom.dcmread(item["image"]).pixel_array
        rows, cols = pixels.shape
        col = cols // 6 if item["laterality"] == "L" else cols - cols // 6
        for k, lesion in enumerate(item["lesions"]):
            row = rows // 2 + 350 * k
            lesion["box"] = [row - 150, col - 150, row + 150, col + 150]
            assert pixels[row - 150:row + 150, col - 150:col + 150].min() > 0.2 * pixels.max()
    positioned = tmp_path / "positioned.json"
    positioned.write_text(json.dumps(datalist))
    run_bundle(_infer_args(bundle, tmp_path / "predictions", "--datalist", str(positioned)), bundle)
    pred = tmp_path / "predictions" / "test_probabilities.csv"
    rows = _probabilities(pred)
    assert sorted((Path(r["image"]).relative_to(tree).parts[0], int(r["lesion_index"])) for r in rows) == [
        ("Mass-Test_P_00173_LEFT_CC", 0), ("Mass-Test_P_00173_LEFT_MLO", 0), ("Mass-Test_P_00173_RIGHT_CC", 0),
        ("Mass-Test_P_00173_RIGHT_CC", 1), ("Mass-Test_P_00173_RIGHT_MLO", 0), ("Mass-Test_P_00173_RIGHT_MLO", 1)]
    assert {r["image"] for r in rows} == {item["image"] for item in datalist["test"]}
    assert {Path(r["image"]).resolve() for r in rows} == {f.resolve() for f in files}  # the real files

    # (c) scored against the CSVs' truth: 6 benign lesions, none malignant, so AUC is undefined (null), not a crash
    report_dir = tmp_path / "report"
    assert main(["eval", "classification", "--pred", str(pred), "--label", str(positioned), "--out",
                 str(report_dir), "--task", "pathology", "--n_resamples", "50"]) == 0
    report = json.loads((report_dir / "classification_metrics.json").read_text())
    counts = report["counts"]
    assert counts["evaluated"] == 6 and counts["missing"] == 0 and counts["skipped"] == 0
    assert counts["by_class"] == {"benign": 6, "malignant": 0} and counts["prediction_rows"]["unmatched_rows"] == 0
    assert report["metrics"]["auc"] and all(v["estimate"] is None for v in report["metrics"]["auc"].values())


def test_inference_from_crop_files(bundle: Path, tmp_path: Path) -> None:
    """``crop_source crop_file``: the items are the lesions' own crop files (CBIS-DDSM ``lesion["crop"]``, here
    the synthetic default's), the pipeline loads those files, one row per lesion with a crop."""
    from monai.bundle import ConfigParser

    from mammo_monai.data.lesion_items import lesion_items

    expected = lesion_items(_datalist(bundle)["test"], use_crop_files=True)
    assert expected and all(e["image"] == e["lesion"]["crop"] != e["full_image"] for e in expected)
    parser = ConfigParser()
    parser.read_config([str(bundle / "configs" / "inference.json"), str(bundle / "small_net.json")])
    parser.update({"bundle_root": str(bundle), "crop_source": "crop_file",
                   "datalist": str(bundle / "data" / "synthetic" / "datalist.json")})
    items = parser.get_parsed_content("dataset#data")
    assert [(i["image"], i["full_image"], i["lesion_index"]) for i in items] == [
        (e["lesion"]["crop"], e["full_image"], e["lesion_index"]) for e in expected]

    run_bundle(_infer_args(bundle, tmp_path / "predictions", "--crop_source", "crop_file"), bundle)
    pred = tmp_path / "predictions" / "test_probabilities.csv"
    rows = _probabilities(pred)
    # a row names the full mammogram (the datalist's image), whatever the network read, so it can be scored
    assert sorted((r["image"], int(r["lesion_index"])) for r in rows) == sorted(
        (e["full_image"], e["lesion_index"]) for e in expected)
    from mammo_monai.cli import main

    assert main(["eval", "classification", "--pred", str(pred), "--label",
                 str(bundle / "data" / "synthetic" / "datalist.json"), "--out", str(tmp_path / "report"),
                 "--task", "pathology", "--n_resamples", "50"]) == 0
    report = json.loads((tmp_path / "report" / "classification_metrics.json").read_text())
    assert report["counts"]["missing"] == 0 and report["counts"]["evaluated"] == len(expected)


def test_type_pathology_with_normal_tissue_trains(bundle: Path, tmp_path: Path) -> None:
    """Five classes: the normal-tissue items (here: the synthetic images, declared normal) are cut like lesions."""
    root = tmp_path / "b"
    shutil.copytree(bundle, root, ignore=shutil.ignore_patterns("models", "eval", "predictions", "data"))
    datalist = _datalist(bundle)
    for split in datalist:  # one image per split without its lesions, as a normal image
        first = datalist[split][0]
        datalist[split].append({**first, "pathology": "normal", "lesions": []})
    (root / "normal.json").write_text(json.dumps(datalist))
    out = run_bundle(["run", "training", "--config_file", config_list(root, "train.json", str(root / "small_net.json")),
                      *meta_args(root), *TINY, "--train#trainer#max_epochs", "1", "--task", "type_pathology",
                      "--include_normal", "true", "--default_spacing", "0.05", "--datalist", str(root / "normal.json"),
                      "--imbalance", "none"], root)
    assert (root / "models" / "model_final.pt").is_file(), out[-2000:]


def test_fold_ensemble_of_one_model_twice_equals_the_model(bundle: Path, tmp_path: Path) -> None:
    """``ensemble_checkpoints``: the fold models' mean probability; two copies of one checkpoint (one of them saved
    as ``{"model": state_dict}``) give that checkpoint's own probabilities, and a missing member is named."""
    import torch

    model = bundle / "models" / "model.pt"
    state = torch.load(model, map_location="cpu", weights_only=True)
    wrapped = tmp_path / "wrapped.pt"
    torch.save({"model": state.get("model", state)}, wrapped)
    run_bundle(_infer_args(bundle, tmp_path / "single"), bundle)
    run_bundle(_infer_args(bundle, tmp_path / "ensemble", "--ensemble_checkpoints", f"['{model}', '{wrapped}']"),
               bundle)
    single = _probabilities(tmp_path / "single" / "test_probabilities.csv")
    ensemble = _probabilities(tmp_path / "ensemble" / "test_probabilities.csv")
    assert [(r["image"], r["lesion_index"]) for r in single] == [(r["image"], r["lesion_index"]) for r in ensemble]
    assert np.allclose([float(r["prob_malignant"]) for r in single],
                       [float(r["prob_malignant"]) for r in ensemble], atol=1e-5)
    code, out = run_bundle_status(_infer_args(bundle, tmp_path / "gone", "--ensemble_checkpoints",
                                              f"['{model}', '{tmp_path / 'gone.pt'}']"), bundle)
    assert code != 0 and f"{tmp_path / 'gone.pt'}: checkpoint not found" in out
