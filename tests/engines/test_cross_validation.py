"""``mammo-monai cv``: folds through a bundle's own commands, pooled out-of-fold scoring, thresholds inside folds.

The bundle's ``monai.bundle`` commands are played by a stand-in interpreter that trains nothing and writes
probabilities from the truth (so the figures are known); the real bundles' commands are the ones
``tests/bundles`` runs. Every command line the runner issues is recorded and checked.
"""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import numpy as np
import pytest

from mammo_monai.cli import main
from mammo_monai.data.schema import write_datalist
from mammo_monai.engines.cross_validation import CrossValidationError, run_cross_validation
from mammo_monai.evaluation.classification import youden_threshold
from mammo_monai.transforms.lesions import LesionMask

BUNDLE = Path(__file__).resolve().parents[2] / "bundles" / "mammo_image_classification"

#: plays ``python -m monai.bundle run STEP ...``: records the call; inferring writes one probability row per item
#: of the split, 0.55 for an abnormal film and 0.3 for a normal one, shifted by +0.35 on the test split (so a
#: threshold taken from the test women would differ from the validation women's)
FAKE = r'''#!{python}
import csv, json, sys
args = sys.argv[1:]
assert args[:3] == ["-m", "monai.bundle", "run"], args
step, opts = args[3], dict(zip(args[4::2], args[5::2]))
with open({calls!r}, "a") as f:
    f.write(json.dumps({{"step": step, **opts}}) + "\n")
if step == "training":
    import os
    os.makedirs(os.path.join(opts["--bundle_root"], "models"), exist_ok=True)
    open(os.path.join(opts["--bundle_root"], "models", "model.pt"), "w").close()
if step == "inferring":
    split = opts["--infer_split"]
    items = json.load(open(opts["--datalist"]))[split]
    shift = 0.35 if split == "test" else 0.0
    import os
    os.makedirs(opts["--output_dir"], exist_ok=True)
    with open(os.path.join(opts["--output_dir"], split + "_probabilities.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image", "prob_normal", "prob_abnormal"])
        for i, item in enumerate(items):
            p = (0.55 if item["lesions"] else 0.3) + shift + 0.01 * (i % 5)
            w.writerow([item["image"], 1 - p, p])
'''


def _datalist(path: Path, n_women: int = 20) -> Path:
    items = []
    for w in range(n_women):
        for side in "LR":
            abnormal = w % 3 == 0 and side == "L"
            items.append({"image": f"/data/mdb{w:03d}{side}.png", "patient_id": f"W{w:02d}", "laterality": side,
                          "view": "MLO", "pathology": "benign" if abnormal else "normal",
                          "lesions": [{"type": "mass", "pathology": "benign"}] if abnormal else []})
    return write_datalist({"training": items[:30], "validation": items[30:34], "test": items[34:]}, path)


@pytest.fixture
def fake_python(tmp_path):
    calls = tmp_path / "calls.jsonl"
    script = tmp_path / "fake_python"
    script.write_text(FAKE.format(python=sys.executable, calls=str(calls)))
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script, calls


def _calls(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def test_cv_pools_folds_and_thresholds_inside_folds(tmp_path, fake_python):
    script, calls = fake_python
    datalist = _datalist(tmp_path / "mias.json")
    out = tmp_path / "cv"
    report = run_cross_validation(BUNDLE, datalist, out, n_folds=4, configs=["mias_cpu.json"],
                                  overrides={"max_epochs": 2}, n_resamples=50, python=str(script))
    steps = _calls(calls)
    assert [s["step"] for s in steps] == ["training", "inferring", "inferring"] * 4
    for k in range(4):  # each fold: its own datalist and bundle root, the recipe layered, the override passed
        train, val, test = steps[3 * k: 3 * k + 3]
        assert train["--datalist"] == str(out / f"fold_{k}" / "datalist.json") == test["--datalist"]
        assert train["--bundle_root"] == str(out / f"fold_{k}" / "bundle")
        assert json.loads(train["--config_file"])[-1].endswith("mias_cpu.json") and train["--max_epochs"] == "2"
        assert (val["--infer_split"], test["--infer_split"]) == ("validation", "test")

    # no woman in two test folds; every woman scored once out of fold
    folds = [json.loads((out / f"fold_{k}" / "datalist.json").read_text()) for k in range(4)]
    tested = [i["patient_id"] for f in folds for i in f["test"]]
    assert len(tested) == 40 and len(set(tested)) == 20
    for f in folds:
        sides = [{i["patient_id"] for i in f[s]} for s in ("training", "validation", "test")]
        assert not (sides[0] & sides[1] or sides[0] & sides[2] or sides[1] & sides[2])

    # each fold's threshold is the one its validation women give, not its test women (shifted by +0.35)
    for k, row in enumerate(report["folds"]):
        val_items = folds[k]["validation"]
        y = [1 if i["lesions"] else 0 for i in val_items]
        s = [(0.55 if i["lesions"] else 0.3) + 0.01 * (j % 5) for j, i in enumerate(val_items)]
        assert row["threshold"] == pytest.approx(youden_threshold(y, s)[0])
        assert row["threshold"] < 0.6  # a test-chosen threshold would be >= 0.9
    assert report["headline"]["auc"]["estimate"] == pytest.approx(1.0)
    # test scores sit 0.35 above the validation ones: at the validation thresholds every film is called abnormal
    assert report["headline"]["sensitivity_at_fold_threshold"]["estimate"] == 1.0
    assert report["headline"]["specificity_at_fold_threshold"]["estimate"] == 0.0
    fold_thresholds = sorted(r["threshold"] for r in report["folds"])
    assert fold_thresholds[1] <= report["shipped_threshold"] <= fold_thresholds[2]  # their median
    for name in ("cv_report.json", "cv_report.md", "folds.json", "oof/test_probabilities.csv",
                 "report/classification_metrics.json"):
        assert (out / name).is_file(), name

    # a second run resumes: nothing is run again, the same report comes back
    again = run_cross_validation(BUNDLE, datalist, out, n_folds=4, configs=["mias_cpu.json"],
                                 overrides={"max_epochs": 2}, n_resamples=50, python=str(script))
    assert len(_calls(calls)) == 12 and again["headline"]["auc"] == report["headline"]["auc"]
    # an inference-time option on the same fold models: no training, the earlier folds' bundles, nothing written there
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    tta = run_cross_validation(BUNDLE, datalist, tmp_path / "cv_tta", n_folds=4, configs=["mias_cpu.json"],
                               overrides={"max_epochs": 2}, infer_overrides={"tta": True}, train_from=out,
                               n_resamples=50, python=str(script))
    new_steps = _calls(calls)[12:]
    assert [s["step"] for s in new_steps] == ["inferring"] * 8 and all(s["--tta"] == "True" for s in new_steps)
    assert {s["--bundle_root"] for s in new_steps} == {str(out / f"fold_{k}" / "bundle") for k in range(4)}
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before and "--train_from" in tta["command"]
    with pytest.raises(CrossValidationError, match="same folds"):
        run_cross_validation(BUNDLE, datalist, tmp_path / "cv_other", n_folds=3, configs=["mias_cpu.json"],
                             train_from=out, python=str(script))
    assert len(_calls(calls)) == 20  # nothing more ran

    # other folds into the same folder are refused before anything runs
    with pytest.raises(CrossValidationError, match="used other folds"):
        run_cross_validation(BUNDLE, datalist, out, n_folds=4, seed=1, configs=["mias_cpu.json"],
                             python=str(script))


def test_cv_fold_ensemble_nests_its_members_inside_each_fold(tmp_path, fake_python):
    script, calls = fake_python
    datalist = _datalist(tmp_path / "mias.json")
    out = tmp_path / "cv_ensemble"
    report = run_cross_validation(BUNDLE, datalist, out, n_folds=4, configs=["mias_cpu.json"], fold_ensemble=True,
                                  n_resamples=50, python=str(script))
    steps = _calls(calls)
    assert [s["step"] for s in steps] == (["training", "inferring"] * 3 + ["inferring"]) * 4
    folds = [json.loads((out / f"fold_{k}" / "datalist.json").read_text()) for k in range(4)]
    women = [{i["patient_id"] for i in f["test"]} for f in folds]
    for k in range(4):
        fold_steps = steps[7 * k: 7 * k + 7]
        members = [j for j in range(4) if j != k]
        for m, j in enumerate(members):  # member j: trained without fold k and j, validated on fold j
            train, val = fold_steps[2 * m: 2 * m + 2]
            root = out / f"fold_{k}" / f"member_{j}"
            assert train["--bundle_root"] == str(root / "bundle") == val["--bundle_root"]
            member = json.loads((root / "datalist.json").read_text())
            assert {i["patient_id"] for i in member["training"]} == set().union(
                *(women[i] for i in range(4) if i not in (k, j)))
            assert {i["patient_id"] for i in member["validation"]} == women[j]
            assert val["--infer_split"] == "validation"
        test = fold_steps[-1]
        assert test["--infer_split"] == "test" and test["--datalist"] == str(out / f"fold_{k}" / "datalist.json")
        assert eval(test["--ensemble_checkpoints"]) == [
            str(out / f"fold_{k}" / f"member_{j}" / "bundle" / "models" / "model.pt") for j in members]
        # the threshold: Youden's J on the members' scores of all the fold's training women (never fold k's)
        y, scores = [], []
        for j in members:
            for i, item in enumerate(folds[j]["test"]):
                y.append(1 if item["lesions"] else 0)
                scores.append((0.55 if item["lesions"] else 0.3) + 0.01 * (i % 5))
        assert report["folds"][k]["threshold"] == pytest.approx(youden_threshold(y, scores)[0])
    assert report["fold_ensemble"] is True and "--fold_ensemble True" in report["command"]
    assert report["headline"]["auc"]["estimate"] == pytest.approx(1.0)
    # resumed: nothing runs again
    run_cross_validation(BUNDLE, datalist, out, n_folds=4, configs=["mias_cpu.json"], fold_ensemble=True,
                         n_resamples=50, python=str(script))
    assert len(_calls(calls)) == 28
    with pytest.raises(CrossValidationError, match="fold_ensemble"):
        run_cross_validation(BUNDLE.parent / "mammo_mass_segmentation", datalist, tmp_path / "cv_seg", n_folds=4,
                             fold_ensemble=True, python=str(script))
    assert len(_calls(calls)) == 28


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"n_folds": 30}, "30 folds need at least 30 women"),
    ({"overrides": {"task": "malignant"}}, "no 'malignant' item"),
    ({"configs": ["missing.json"]}, "missing.json: bundle config not found"),
])
def test_cv_refuses_before_training(tmp_path, fake_python, kwargs, match):
    script, calls = fake_python
    datalist = _datalist(tmp_path / "mias.json")
    with pytest.raises(CrossValidationError, match=match):
        run_cross_validation(BUNDLE, datalist, tmp_path / "cv", python=str(script), **kwargs)
    assert _calls(calls) == []


def test_cv_unknown_bundle_and_cli_error(tmp_path, capsys):
    (tmp_path / "my_bundle" / "configs").mkdir(parents=True)
    datalist = _datalist(tmp_path / "mias.json")
    assert main(["cv", str(tmp_path / "my_bundle"), "--datalist", str(datalist), "--out", str(tmp_path / "cv")]) == 2
    assert "no cross-validation for bundle 'my_bundle'" in capsys.readouterr().err
    assert main(["cv", str(BUNDLE), "--datalist", str(datalist), "--out", str(tmp_path / "cv"),
                 "--configs", "mias_cpu.json", "--folds_only", "True"]) == 0
    # JSON literals in --overrides reach the bundle as booleans, not as the strings fire makes of them
    assert main(["cv", str(BUNDLE), "--datalist", str(datalist), "--out", str(tmp_path / "cv_json"),
                 "--configs", "mias_cpu.json", "--overrides", '{"include_normal": false}', "--folds_only", "True"]) == 0
    assert (tmp_path / "cv" / "fold_4" / "datalist.json").is_file()


#: plays the detector's and the segmenter's inference: candidates at each lesion's centre plus one false positive
#: per film (detection), the truth mask as the prediction (segmentation)
FAKE_PER_IMAGE = r'''#!{python}
import json, os, sys
import numpy as np
from PIL import Image
args = sys.argv[1:]
step, opts = args[3], dict(zip(args[4::2], args[5::2]))
with open({calls!r}, "a") as f:
    f.write(json.dumps({{"step": step, **opts}}) + "\n")
if step == "inferring":
    out = opts["--output_dir"]
    os.makedirs(out, exist_ok=True)
    detector = "mammo_patch_detection" in opts["--config_file"]
    for item in json.load(open(opts["--datalist"]))[opts["--infer_split"]]:
        stem = os.path.splitext(os.path.basename(item["image"]))[0]
        if detector:
            cands = [{{"score": 0.9, "center": les["center"]}} for les in item["lesions"]]
            cands.append({{"score": 0.5, "center": [2.0, 2.0]}})
            json.dump({{"image": item["image"], "candidates": cands}}, open(os.path.join(out, stem + ".json"), "w"))
        else:  # the truth at 0.95 plus a faint 0.6 blob in the corner of every film
            import nibabel as nib
            mass = item.get("label") and item["lesions"][0]["type"] == "mass"  # a mass segmenter
            mask = np.array(Image.open(item["label"])) if mass else np.zeros((32, 32), np.uint8)
            probability = np.where(mask > 0, 0.95, 0.0).astype(np.float32)
            probability[1:5, 1:5] = 0.6
            Image.fromarray((probability > 0.5).astype(np.uint8)).save(os.path.join(out, stem + "_seg.png"))
            nib.save(nib.Nifti1Image(probability, np.eye(4)), os.path.join(out, stem + "_prob.nii.gz"))
'''


def _fake_candidates(items, cache):
    """Stage-1 candidate caches as :func:`mammo_monai.engines.two_stage_detection.fold_gate_scores` reads them:
    a clearly positive candidate at each mass, a negative one in the corner of every film (no image processing)."""
    from mammo_monai.inference.blob_candidates import FEATURE_NAMES

    rng = np.random.default_rng(0)
    cache.mkdir()
    for item in items:
        centers = [les["center"] for les in item["lesions"]] + [[2.0, 2.0]]
        features = rng.normal(0, 0.1, (len(centers), len(FEATURE_NAMES)))
        features[: len(item["lesions"]), 0] += 5.0
        np.savez(cache / f"{Path(item['image']).stem}_256.npz", image=item["image"], partner="None",
                 centers=np.array(centers, float), radii=np.full(len(centers), 4.0), features=features,
                 image_shape=np.array([32, 32]), feature_names=np.array(FEATURE_NAMES))
    return cache


@pytest.mark.parametrize("bundle", ["mammo_patch_detection", "mammo_mass_segmentation"])
def test_cv_pools_per_image_outputs(tmp_path, bundle):
    from PIL import Image

    calls = tmp_path / "calls.jsonl"
    script = tmp_path / "fake_python"
    script.write_text(FAKE_PER_IMAGE.format(python=sys.executable, calls=str(calls)))
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    items = []
    for w in range(12):
        for side in "LR":
            image = tmp_path / f"mdb{w:02d}{side}.png"
            Image.fromarray(np.full((32, 32), 100, np.uint8)).save(image)
            item = {"image": str(image), "patient_id": f"W{w}", "laterality": side, "view": "MLO",
                    "pathology": "normal", "lesions": []}
            if w % 2 == 0 and side == "L":
                lesion = {"type": "mass", "pathology": "benign", "center": [16.0, 16.0], "radius": 4.0,
                          "box": [12, 12, 20, 20]}
                Image.fromarray(LesionMask().draw([lesion], (32, 32))).save(tmp_path / f"mask{w}.png")
                item.update(pathology="benign", label=str(tmp_path / f"mask{w}.png"), lesions=[lesion])
            elif w % 2 == 1 and side == "R":  # a calcification circle in the label file is not a mass to segment
                lesion = {"type": "calcification", "pathology": "benign", "center": [8.0, 8.0], "radius": 3.0,
                          "box": [5, 5, 11, 11]}
                Image.fromarray(LesionMask().draw([lesion], (32, 32))).save(tmp_path / f"calc{w}.png")
                item.update(pathology="benign", label=str(tmp_path / f"calc{w}.png"), lesions=[lesion])
            items.append(item)
    datalist = write_datalist({"training": items}, tmp_path / "mias.json")
    gate_cache = _fake_candidates(items, tmp_path / "candidates")
    report = run_cross_validation(BUNDLE.parent / bundle, datalist, tmp_path / "cv", n_folds=3,
                                  configs=["mias_cpu.json"], n_resamples=20, python=str(script), gate_cache=gate_cache)
    steps = _calls(calls)
    if bundle == "mammo_patch_detection":  # test women only: nothing to choose
        assert [s["step"] for s in steps] == ["training", "inferring"] * 3
    else:  # validation women too, with probabilities: the post-processing is chosen on them
        assert [s["step"] for s in steps] == ["training", "inferring", "inferring"] * 3
        assert all(s["--save_probabilities"] == "True" for s in steps if s["step"] == "inferring")
    # python literals: monai.bundle's fire CLI reads JSON's false as the (truthy) string "false"
    assert all(s["--write_overlays"] == "False" for s in steps if s["step"] == "inferring")
    if bundle == "mammo_patch_detection":
        # every mass found, one false positive per film
        assert report["headline"]["sensitivity_at_1_fp_per_image"]["estimate"] == 1.0
        assert report["headline"]["cpm"]["estimate"] > 0.5
    else:
        # the plain argmax keeps the faint blob: every normal film painted, Dice below 1
        assert report["headline"]["dice_on_lesion_films"]["estimate"] < 0.9
        assert report["headline"]["normal_films_with_false_pixels"].startswith("18 of 18")
        # the rule chosen on each fold's validation women drops it (smallest peak above 0.6), with and without the
        # detector's film gate
        for arm in ("rule", "rule_gate"):
            assert report["headline"][f"dice_on_lesion_films ({arm})"]["estimate"] == pytest.approx(1.0)
            assert report["headline"][f"normal_films_with_false_pixels ({arm})"].startswith("0 of 18")
            assert all(0.6 <= fold["min_peak"] <= 0.95 or fold["threshold"] >= 0.6
                       for fold in report["post_processing"][arm]["folds"])
        assert (tmp_path / "cv" / "report_rule_gate" / "summary.json").is_file() or any(
            (tmp_path / "cv" / "report_rule_gate").iterdir())
