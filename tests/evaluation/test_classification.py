"""Classification evaluation: metric values, thresholds, patient bootstrap, prediction files, problems, reports."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.metrics import balanced_accuracy_score, confusion_matrix, precision_recall_fscore_support, roc_auc_score

from mammo_monai.cli import main
from mammo_monai.data.labels import label_set
from mammo_monai.data.schema import make_item, make_lesion, write_datalist
from mammo_monai.evaluation import (
    CLASSIFICATION_REPORT_FILES,
    bootstrap_by_group,
    calibration_bins,
    classification_metrics,
    evaluate_classification,
    format_classification_summary,
    read_predictions,
    youden_threshold,
)

N = 40  # bootstrap draws in these tests (fast; the default is 2000)


def _image_item(name: str, patient: str | None, malignant: bool | None) -> dict:
    """``malignant`` True/False: an image with a malignant/benign mass; None: a normal image."""
    lesions = [] if malignant is None else [make_lesion("mass", "malignant" if malignant else "benign",
                                                        center=(10, 10), radius=3)]
    item = make_item(f"imgs/{name}.png", patient or "", "L", "CC", lesions=lesions)
    if patient is None:
        del item["patient_id"]
    return item


def _datalist(root: Path, test: list[dict], validation: list[dict] = (), training: list[dict] = ()) -> Path:
    return write_datalist({"training": list(training), "validation": list(validation), "test": list(test)},
                          root / "datalist.json", overwrite=True)


def _csv(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def _binary_rows(names: list[str], scores: list[float]) -> list[dict]:
    return [{"image": f"imgs/{n}.png", "prob_malignant": s} for n, s in zip(names, scores)]


@pytest.fixture
def binary(tmp_path: Path) -> dict:
    """Eight test images of four patients (two each: patient A and B malignant, C and D not)."""
    spec = [("a1", "A", True), ("a2", "A", True), ("b1", "B", True), ("b2", "B", None),
            ("c1", "C", False), ("c2", "C", None), ("d1", "D", None), ("d2", "D", False)]
    items = [_image_item(n, p, m) for n, p, m in spec]
    names = [n for n, _, _ in spec]
    truth = [int(bool(m)) for _, _, m in spec]
    return {"root": tmp_path, "items": items, "names": names, "truth": truth,
            "datalist": _datalist(tmp_path, items)}


def _evaluate(pred: Path, datalist: Path, out: Path, task: str = "malignant", **kw):
    return evaluate_classification(pred, datalist, out, task, n_resamples=kw.pop("n_resamples", N), **kw)


# ------------------------------------------------------------------------------------------- metrics


def test_perfect_scores_and_report_files(binary):
    scores = [0.9 if t else 0.1 for t in binary["truth"]]
    pred = _csv(binary["root"] / "preds" / "test.csv", _binary_rows(binary["names"], scores))
    out = binary["root"] / "report"
    r = _evaluate(pred, binary["datalist"], out)
    m = r.summary["metrics"]
    assert m["auc"]["macro"]["estimate"] == 1.0 and m["auc"]["malignant"]["estimate"] == 1.0
    assert m["balanced_accuracy"]["estimate"] == 1.0 and m["accuracy"]["estimate"] == 1.0
    assert m["threshold"]["sensitivity"]["estimate"] == 1.0 and m["threshold"]["specificity"]["estimate"] == 1.0
    assert m["specificity_at_sensitivity"]["0.9"]["estimate"] == 1.0
    assert m["average_precision"]["malignant"]["estimate"] == 1.0
    assert m["ece"]["estimate"] == pytest.approx(0.1)
    assert r.summary["confusion_matrix"]["argmax"] == [[5, 0], [0, 3]]
    assert r.summary["confusion_matrix"]["threshold"] == [[5, 0], [0, 3]]
    assert r.summary["threshold"]["source"] == "default" and r.summary["threshold"]["value"] == 0.5
    assert "no val_pred" in r.summary["threshold"]["note"]
    assert r.summary["counts"]["evaluated"] == 8 and r.summary["counts"]["evaluated_patients"] == 4
    assert r.summary["counts"]["by_class"] == {"non_malignant": 5, "malignant": 3}
    assert not len(r.problems)

    assert set(r.paths) == set(CLASSIFICATION_REPORT_FILES)
    assert all(p.is_file() for p in r.paths.values())
    saved = json.loads(r.paths["metrics"].read_text())
    assert saved["metrics"]["auc"]["macro"]["estimate"] == 1.0 and saved["task"]["classes"] == ["non_malignant",
                                                                                                  "malignant"]
    with open(r.paths["confusion_matrix"]) as f:
        cm_rows = list(csv.DictReader(f))
    assert [(c["operating_point"], c["truth"], c["non_malignant"], c["malignant"]) for c in cm_rows] == [
        ("argmax", "non_malignant", "5", "0"), ("argmax", "malignant", "0", "3"),
        ("threshold", "non_malignant", "5", "0"), ("threshold", "malignant", "0", "3")]
    with open(r.paths["per_item"]) as f:
        items = list(csv.DictReader(f))
    assert [i["truth"] == i["prediction"] == i["prediction_at_threshold"] for i in items] == [True] * 8
    assert items[0]["prob_malignant"] == "0.9" and items[0]["prob_non_malignant"] == "0.1"
    assert items[0]["source"].endswith("test.csv:2") and items[0]["patient_id"] == "A"
    for key in ("roc", "pr", "reliability"):
        with Image.open(r.paths[key]) as png:
            assert png.format == "PNG" and png.size == (520, 480)
    text = format_classification_summary(r)
    assert "AUC 1.000" in text and "threshold 0.5 (default)" in text and "specificity at sensitivity 0.9" in text


def test_constant_score_gives_auc_one_half(binary):
    pred = _csv(binary["root"] / "p.csv", _binary_rows(binary["names"], [0.3] * 8))
    r = _evaluate(pred, binary["datalist"], binary["root"] / "out")
    m = r.summary["metrics"]
    assert m["auc"]["macro"]["estimate"] == 0.5 and m["auc"]["macro"]["ci"] == [0.5, 0.5]
    assert m["threshold"]["sensitivity"]["estimate"] == 0.0  # 0.3 < 0.5: all negative
    assert m["precision"]["malignant"]["estimate"] is None or math.isnan(m["precision"]["malignant"]["estimate"])
    assert m["ece"]["estimate"] == pytest.approx(abs(3 / 8 - 0.3))
    saved = json.loads(r.paths["metrics"].read_text())
    assert saved["metrics"]["precision"]["malignant"]["estimate"] is None  # NaN is written as null


def test_threshold_comes_from_validation_not_test(binary):
    # validation: positives at 0.7, 0.8, negatives at 0.2, 0.6 -> Youden's J picks 0.7
    val_spec = [("v1", "V", True, 0.7), ("v2", "V", True, 0.8), ("v3", "W", False, 0.2), ("v4", "W", None, 0.6)]
    val_items = [_image_item(n, p, m) for n, p, m, _ in val_spec]
    datalist = _datalist(binary["root"], binary["items"], validation=val_items)
    val = _csv(binary["root"] / "val.csv", _binary_rows([s[0] for s in val_spec], [s[3] for s in val_spec]))
    # test: positives at 0.4 to 0.6, negatives at 0.1: the test split's own best threshold would be 0.4
    scores = [0.4 if t else 0.1 for t in binary["truth"]]
    scores[0] = 0.75
    test = _csv(binary["root"] / "test.csv", _binary_rows(binary["names"], scores))
    r = _evaluate(test, datalist, binary["root"] / "out", val_pred=val)
    th = r.summary["threshold"]
    assert th["source"] == "validation" and th["value"] == 0.7 and th["method"] == "youden_j"
    assert th["validation"]["youden_j"] == 1.0 and th["validation"]["evaluated"] == 4
    assert youden_threshold(binary["truth"], scores)[0] == 0.4  # what choosing on test would have given
    m = r.summary["metrics"]["threshold"]
    assert m["sensitivity"]["estimate"] == pytest.approx(1 / 3) and m["specificity"]["estimate"] == 1.0
    assert r.summary["confusion_matrix"]["threshold"] == [[5, 0], [2, 1]]
    assert r.summary["confusion_matrix"]["argmax"] == [[5, 0], [2, 1]]  # 0.4 < 0.5 too
    assert "threshold 0.7 (validation)" in format_classification_summary(r)
    # validation predictions that hold one class fall back to 0.5 and say why
    one_class = _csv(binary["root"] / "val1.csv", _binary_rows(["v1", "v2"], [0.7, 0.8]))
    r = _evaluate(test, datalist, binary["root"] / "out1", val_pred=one_class)
    assert r.summary["threshold"]["source"] == "default" and r.summary["threshold"]["value"] == 0.5
    assert "one class only" in r.summary["threshold"]["note"]
    assert r.problems.counts() == {"missing_prediction": 2}  # v3, v4 of the validation split
    with pytest.raises(ValueError, match="cannot also be the evaluated split"):
        _evaluate(val, datalist, binary["root"] / "out2", split="validation", val_pred=val)


def test_youden_threshold_edge_cases():
    assert youden_threshold([], [])[0] is None
    t, info = youden_threshold([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5])
    assert t is None and "beats chance" in info["reason"]
    t, info = youden_threshold([0, 0, 1, 1, 1], [0.2, 0.6, 0.5, 0.55, 0.9])
    assert t == 0.5 and info["sensitivity"] == 1.0 and info["specificity"] == 0.5 and info["n_positive"] == 3
    assert youden_threshold([0, 1, 0, 1], [0.1, 0.4, 0.5, 0.8])[0] == 0.8  # a tie in J: the higher threshold


def test_ci_contains_estimate_and_resamples_patients(binary):
    rng = np.random.default_rng(3)
    scores = np.clip(np.array(binary["truth"]) * 0.3 + rng.random(8) * 0.6, 0, 1).round(4).tolist()
    pred = _csv(binary["root"] / "p.csv", _binary_rows(binary["names"], scores))
    r = _evaluate(pred, binary["datalist"], binary["root"] / "out", n_resamples=200, seed=5)
    m = r.summary["metrics"]
    for entry in (m["auc"]["macro"], m["accuracy"], m["ece"], m["threshold"]["sensitivity"]):
        assert entry["ci"][0] <= entry["estimate"] <= entry["ci"][1]
    assert m["auc"]["macro"]["n_invalid"] > 0  # some draws hold one class only: AUC NaN, left out
    # the same statistic bootstrapped over the four patients (each patient's two images move together) ...
    y, s = np.array(binary["truth"]), np.array(scores)
    patients = [n[0].upper() for n in binary["names"]]
    correct = (s >= 0.5) == y
    by_patient = bootstrap_by_group(lambda idx: float(correct[idx].mean()), patients, 200, seed=5)
    by_image = bootstrap_by_group(lambda idx: float(correct[idx].mean()), list(range(8)), 200, seed=5)
    assert m["threshold"]["accuracy"]["ci"] == pytest.approx([by_patient["low"], by_patient["high"]])
    assert [by_image["low"], by_image["high"]] != pytest.approx([by_patient["low"], by_patient["high"]])
    auc = bootstrap_by_group(lambda idx: roc_auc_score(y[idx], s[idx]) if len(set(y[idx])) == 2 else float("nan"),
                             patients, 200, seed=5)
    assert m["auc"]["malignant"]["ci"] == pytest.approx([auc["low"], auc["high"]])
    assert m["auc"]["malignant"]["n_invalid"] == auc["n_invalid"]


def test_positive_column_only_csv_equals_both_columns_json(binary):
    scores = [0.8, 0.35, 0.9, 0.2, 0.45, 0.1, 0.6, 0.3]
    only = _csv(binary["root"] / "only.csv", _binary_rows(binary["names"], scores))
    both = binary["root"] / "both.json"
    both.write_text(json.dumps([{"image": f"imgs/{n}.png", "prob_non_malignant": 1 - s, "prob_malignant": s,
                                 "patient": "ignored"} for n, s in zip(binary["names"], scores)]))
    a = _evaluate(only, binary["datalist"], binary["root"] / "a")
    b = _evaluate(both, binary["datalist"], binary["root"] / "b")
    assert a.summary["metrics"] == b.summary["metrics"]
    assert a.summary["metrics"]["auc"]["macro"]["estimate"] == roc_auc_score(binary["truth"], scores)
    assert [row["prob_non_malignant"] for row in a.rows] == pytest.approx([1 - s for s in scores])
    assert b.rows[0]["source"].endswith("both.json#[0]")


def test_relative_paths_from_the_prediction_files_folder(binary):
    rows = [{"image": f"../imgs/{n}.png", "prob_abnormal": 0.9 if t else 0.2}
            for n, t in zip(binary["names"], binary["truth"])]
    pred = _csv(binary["root"] / "preds" / "p.csv", rows)
    r = _evaluate(pred, binary["datalist"], binary["root"] / "out", task="abnormal")
    assert r.summary["counts"]["evaluated"] == 8 and not len(r.problems)
    assert r.summary["task"]["classes"] == ["normal", "abnormal"]
    assert r.summary["counts"]["by_class"] == {"normal": 3, "abnormal": 5}


# ------------------------------------------------------------------------------------------ multi-class


def _lesion_study(root: Path) -> dict:
    """Six images of four patients: masses and calcifications of both pathologies, a MIAS-like architectural
    distortion (not in type_pathology) and a normal image."""
    L = make_lesion
    items = [
        make_item("imgs/m1.png", "A", "L", "CC", lesions=[L("mass", "benign", center=(5, 5), radius=2),
                                                           L("calcification", "malignant", box=(1, 1, 4, 4))]),
        make_item("imgs/m2.png", "A", "L", "MLO", lesions=[L("mass", "malignant", center=(5, 5), radius=2)]),
        make_item("imgs/m3.png", "B", "R", "CC", lesions=[L("calcification", "benign", box=(1, 1, 4, 4)),
                                                           L("architectural_distortion", "benign")]),
        make_item("imgs/m4.png", "C", "L", "CC", lesions=[L("mass", "benign", center=(5, 5), radius=2),
                                                           L("calcification", "benign", box=(1, 1, 4, 4))]),
        make_item("imgs/m5.png", "D", "R", "MLO", lesions=[L("mass", "malignant", center=(5, 5), radius=2),
                                                            L("calcification", "malignant", box=(1, 1, 4, 4))]),
        make_item("imgs/n1.png", "D", "L", "MLO"),
    ]
    classes = label_set("type_pathology").classes
    truth = {("m1", 0): 0, ("m1", 1): 3, ("m2", 0): 1, ("m3", 0): 2, ("m4", 0): 0, ("m4", 1): 2,
             ("m5", 0): 1, ("m5", 1): 3}
    probs = {("m1", 0): [0.7, 0.1, 0.1, 0.1], ("m1", 1): [0.1, 0.1, 0.2, 0.6], ("m2", 0): [0.2, 0.5, 0.2, 0.1],
             ("m3", 0): [0.1, 0.1, 0.4, 0.4], ("m4", 0): [0.3, 0.4, 0.2, 0.1], ("m4", 1): [0.1, 0.1, 0.7, 0.1],
             ("m5", 0): [0.1, 0.6, 0.2, 0.1], ("m5", 1): [0.2, 0.1, 0.3, 0.4]}
    rows = [{"image": f"imgs/{k[0]}.png", "lesion_index": k[1], **{f"prob_{c}": v for c, v in zip(classes, p)}}
            for k, p in probs.items()]
    return {"items": items, "truth": truth, "probs": probs, "rows": rows, "classes": classes,
            "datalist": _datalist(root, items)}


def test_multiclass_type_pathology_per_class_metrics(tmp_path):
    study = _lesion_study(tmp_path)
    pred = _csv(tmp_path / "p.csv", study["rows"])
    r = _evaluate(pred, study["datalist"], tmp_path / "out", task="type_pathology", val_pred=pred)
    y = np.array(list(study["truth"].values()))
    p = np.array(list(study["probs"].values()))
    am = p.argmax(axis=1)
    m, classes = r.summary["metrics"], study["classes"]
    assert r.summary["confusion_matrix"]["argmax"] == confusion_matrix(y, am, labels=range(4)).tolist()
    assert "threshold" not in r.summary["confusion_matrix"] and "threshold" not in m
    precision, recall, f1, _ = precision_recall_fscore_support(y, am, labels=range(4), zero_division=np.nan)
    for c, name in enumerate(classes):
        assert m["recall"][name]["estimate"] == pytest.approx(recall[c])
        assert m["f1"][name]["estimate"] == pytest.approx(f1[c], nan_ok=True)
        assert m["precision"][name]["estimate"] == pytest.approx(precision[c], nan_ok=True)
        negatives = y != c
        assert m["specificity"][name]["estimate"] == pytest.approx(np.mean(am[negatives] != c))
        assert m["auc"][name]["estimate"] == pytest.approx(roc_auc_score(y == c, p[:, c]))
    assert m["auc"]["macro"]["estimate"] == pytest.approx(roc_auc_score(y, p, multi_class="ovr", average="macro"))
    assert m["balanced_accuracy"]["estimate"] == pytest.approx(balanced_accuracy_score(y, am))
    top = p.max(axis=1)
    expected_ece = calibration_bins(top, am == y, 10)["ece"]
    assert m["ece"]["estimate"] == pytest.approx(expected_ece)
    assert r.summary["threshold"] == {"value": None, "source": "argmax",
                                      "note": "multi-class: the argmax; val_pred is not used"}
    counts = r.summary["counts"]
    assert counts["evaluated"] == 8 and counts["skipped"] == 1
    assert counts["skipped_by_reason"] == {"lesion type 'architectural_distortion' is not in type_pathology "
                                           "(masses and calcifications only)": 1}
    assert counts["prediction_rows"]["rows_for_skipped_items"] == 0 and not len(r.problems)
    text = format_classification_summary(r)
    assert "macro AUC" in text and "skipped 1" in text and "malignant_calcification" in text

    # the five-class variant: the normal image is an item, given by a row without lesion_index
    rows = [{**row, "prob_normal": 0.0} for row in study["rows"]]
    rows.append({"image": "imgs/n1.png", "lesion_index": "", "prob_normal": 0.9, **{f"prob_{c}": 0.025
                                                                                   for c in classes}})
    rows.append({"image": "imgs/m3.png", "lesion_index": 1, "prob_normal": 0.2, **{f"prob_{c}": 0.2
                                                                                  for c in classes}})
    five = _csv(tmp_path / "five.csv", rows)
    r = _evaluate(five, study["datalist"], tmp_path / "out5", task="type_pathology", include_normal=True)
    assert r.summary["task"]["classes"][0] == "normal" and r.summary["task"]["include_normal"]
    assert r.summary["counts"]["by_class"]["normal"] == 1 and r.summary["counts"]["evaluated"] == 9
    assert r.summary["metrics"]["recall"]["normal"]["estimate"] == 1.0
    assert r.summary["counts"]["prediction_rows"]["rows_for_skipped_items"] == 1  # the distortion's row
    assert not len(r.problems)
    normal_row = next(row for row in r.rows if row["truth"] == "normal")
    assert normal_row["lesion_index"] is None and normal_row["prediction"] == "normal"


def test_pathology_task_and_classification_metrics_against_sklearn(tmp_path):
    study = _lesion_study(tmp_path)
    rows = [{"image": row["image"], "lesion_index": row["lesion_index"],
             "prob_malignant": round(row["prob_malignant_mass"] + row["prob_malignant_calcification"], 3)}
            for row in study["rows"]]
    r = _evaluate(_csv(tmp_path / "p.csv", rows), study["datalist"], tmp_path / "out", task="pathology")
    assert r.summary["counts"]["items"] == 9  # the distortion is benign: in 'pathology' (it has no row)
    assert r.summary["counts"]["evaluated"] == 8
    assert r.problems.counts() == {"missing_prediction": 1}
    assert r.rows[3]["status"] == "ok" and r.rows[4]["status"] == "missing_prediction"

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 60)
    s = np.clip(y * 0.3 + rng.random(60) * 0.7, 0, 1)
    m = classification_metrics(y, np.stack([1 - s, s], 1), ["neg", "pos"], threshold=0.6,
                               fixed_sensitivities=(0.8,), n_bins=5)
    assert m["auc/pos"] == pytest.approx(roc_auc_score(y, s)) and m["auc/neg"] == m["auc/pos"] == m["auc/macro"]
    pred = (s >= 0.6).astype(int)
    tn, fp, fn, tp = confusion_matrix(y, pred).ravel()
    assert m["threshold/sensitivity"] == pytest.approx(tp / (tp + fn))
    assert m["threshold/specificity"] == pytest.approx(tn / (tn + fp))
    assert m["threshold/npv"] == pytest.approx(tn / (tn + fn))
    assert m["threshold/balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, pred))
    t = m["threshold_at_sensitivity/0.8"]
    assert np.mean(s[y == 1] >= t) == m["sensitivity_reached/0.8"] >= 0.8
    assert m["specificity_at_sensitivity/0.8"] == pytest.approx(np.mean(s[y == 0] < t))
    assert np.mean(s[y == 1] > t) < 0.8  # the first threshold reaching it: any higher one misses it
    empty = classification_metrics(np.zeros(0, int), np.zeros((0, 2)), ["neg", "pos"], threshold=0.5)
    assert all(math.isnan(v) for v in empty.values())


def test_calibration_bins_match_monai():
    from monai.metrics import CalibrationErrorMetric

    rng = np.random.default_rng(1)
    conf = rng.random(200).astype(np.float32).astype(float)
    hit = (rng.random(200) < conf).astype(float)
    b = calibration_bins(conf, hit, n_bins=10)
    metric = CalibrationErrorMetric(num_bins=10, calibration_reduction="expected", metric_reduction="mean")
    expected = float(metric(torch.tensor(conf)[None, None], torch.tensor(hit)[None, None]).reshape(-1)[0])
    assert float(b["ece"]) == pytest.approx(expected, abs=1e-6)
    assert b["count"].sum() == 200 and len(b["edges"]) == 11
    assert calibration_bins([0.0, 1.0], [0, 1], n_bins=4)["count"].tolist() == [1, 0, 0, 1]
    assert math.isnan(calibration_bins([], [], 3)["ece"])
    with pytest.raises(ValueError, match="n_bins"):
        calibration_bins([0.5], [1], 0)


def test_one_class_present_gives_nan_auc_and_still_writes(binary):
    items = [i for i, t in zip(binary["items"], binary["truth"]) if not t]
    names = [n for n, t in zip(binary["names"], binary["truth"]) if not t]
    datalist = _datalist(binary["root"], items)
    r = _evaluate(_csv(binary["root"] / "p.csv", _binary_rows(names, [0.2] * 5)), datalist, binary["root"] / "out")
    auc = r.summary["metrics"]["auc"]["macro"]
    assert math.isnan(auc["estimate"]) and auc["n_invalid"] == N
    assert r.summary["metrics"]["threshold"]["specificity"]["estimate"] == 1.0
    assert r.paths["roc"].is_file() and "AUC -" in format_classification_summary(r)


# --------------------------------------------------------------------------------------------- problems


def test_problems_are_reported_and_the_rest_evaluated(binary):
    other = _image_item("t1", "T", True)
    unannotated = make_item("imgs/u.png", "U", "L", "CC", annotated=False)
    items = [*binary["items"], _image_item("nopatient", None, False), dict(binary["items"][0]),
             {"pathology": "normal", "lesions": []}, unannotated]
    datalist = _datalist(binary["root"], items, training=[other])
    rows = _binary_rows(binary["names"], [0.9 if t else 0.1 for t in binary["truth"]])
    rows[1]["prob_malignant"] = 1.5  # a2: out of range
    rows[2]["prob_malignant"] = "nan"  # b1: not finite
    rows[3]["prob_malignant"] = "high"  # b2: not a number
    del rows[4]  # c1: no prediction
    rows += [{"image": "imgs/elsewhere.png", "prob_malignant": 0.5},  # unmatched
             {"image": "imgs/t1.png", "prob_malignant": 0.5},  # unmatched, an item of the training split
             {"image": "imgs/a1.png", "prob_malignant": 0.2},  # a second row for a1
             {"image": "", "prob_malignant": 0.5},  # no image
             {"image": "imgs/nopatient.png", "prob_malignant": 0.6}]  # wrong: truth non_malignant
    pred = _csv(binary["root"] / "p.csv", rows)
    r = _evaluate(pred, datalist, binary["root"] / "out")
    counts = r.problems.counts()
    assert counts == {"duplicate_item": 1, "missing_image_path": 2, "missing_patient_id": 1,
                      "unmatched_prediction": 2, "bad_probability": 3, "duplicate_prediction": 1,
                      "missing_prediction": 1}
    by_kind = {}
    for p in r.problems:
        by_kind.setdefault(p.kind, []).append(p)
    bad = {p.path.rsplit(":", 1)[1]: p.detail for p in by_kind["bad_probability"]}
    assert bad["3"].startswith("prob_malignant = 1.5 is outside [0, 1]") and "not finite" in bad["4"]
    assert "not a number" in bad["5"] and all(p.path.startswith(str(pred)) for p in by_kind["bad_probability"])
    assert "it is an item of split 'training'" in by_kind["unmatched_prediction"][1].detail
    assert by_kind["duplicate_prediction"][0].path.endswith("p.csv:11")
    assert by_kind["missing_prediction"][0].path.endswith("c1.png")
    c = r.summary["counts"]
    assert c["evaluated"] == 5 and c["missing"] == 6
    assert c["missing_by_reason"] == {"bad_probability": 3, "missing_prediction": 1, "duplicate_item": 1,
                                      "missing_image_path": 1}
    assert c["skipped"] == 1 and "not annotated" in next(iter(c["skipped_by_reason"]))
    assert c["prediction_rows"] == {"rows": 12, "unmatched_rows": 2, "duplicate_rows": 1, "unusable_rows": 4,
                                    "rows_for_skipped_items": 0}
    # the rest is evaluated: a1, c2, d1, d2 and the item without a patient (its own patient)
    assert r.summary["metrics"]["accuracy"]["estimate"] == pytest.approx(4 / 5)
    assert c["evaluated_patients"] == 4
    saved = json.loads(r.paths["metrics"].read_text())
    assert saved["problems"]["counts"] == counts and len(saved["problems"]["first"]) == len(r.problems)
    with open(r.paths["problems"]) as f:
        assert len(list(csv.DictReader(f))) == len(r.problems)
    assert "problems: 11" in format_classification_summary(r)


def test_lesion_level_problems(tmp_path):
    study = _lesion_study(tmp_path)
    rows = [dict(row) for row in study["rows"]]
    rows[0]["prob_benign_mass"] = 0.9  # sums to 1.2
    rows[1]["lesion_index"] = "first"
    rows[2]["lesion_index"] = ""  # a normal-tissue row, but the task has no normal class
    rows[3]["lesion_index"] = 1.0  # m3's distortion, written as a float: a skipped item
    pred = tmp_path / "p.json"
    pred.write_text(json.dumps(rows))
    r = _evaluate(pred, study["datalist"], tmp_path / "out", task="type_pathology")
    kinds = {p.kind: p for p in r.problems}
    assert set(kinds) == {"bad_probability", "bad_lesion_index", "unmatched_prediction", "missing_prediction"}
    assert "sum to 1.2" in kinds["bad_probability"].detail and kinds["bad_probability"].path.endswith("p.json#[0]")
    assert "lesion_index 'first' is not an integer" in kinds["bad_lesion_index"].detail
    assert "needs include_normal" in kinds["unmatched_prediction"].detail
    assert r.problems.counts()["missing_prediction"] == 3  # m1#1, m2#0, m3#0
    assert r.summary["counts"]["prediction_rows"]["rows_for_skipped_items"] == 1
    assert r.summary["counts"]["evaluated"] == 4


def test_row_values_read_from_json(tmp_path):
    rows = [{"image": "a", "lesion_index": True, "prob_benign": 0.5, "prob_malignant": 0.5},
            {"image": "a", "lesion_index": -1, "prob_benign": 0.5, "prob_malignant": 0.5},
            {"image": "a", "lesion_index": 1.5, "prob_benign": 0.5, "prob_malignant": 0.5},
            {"image": "a", "lesion_index": "2", "prob_malignant": 0.5},
            {"image": "a", "lesion_index": 0, "prob_benign": True, "prob_malignant": 0.0},
            {"image": "a", "lesion_index": None, "prob_benign": "0.25", "prob_malignant": 0.75},
            {"image": None, "prob_benign": 0.5, "prob_malignant": 0.5}]
    path = tmp_path / "p.json"
    path.write_text(json.dumps(rows))
    read = read_predictions(path, label_set("pathology"))
    assert [r.kind for r in read] == ["bad_lesion_index"] * 3 + ["bad_probability"] * 2 + [None,
                                                                                             "missing_image_path"]
    assert "not an integer >= 0" in read[1].error and "not an integer >= 0" in read[2].error
    assert read[3].lesion_index == 2 and read[3].error == "prob_benign is missing"
    assert read[4].error == "prob_benign = True is not a number"
    assert read[5].lesion_index is None and read[5].probs.tolist() == [0.25, 0.75]


def test_bad_prediction_files_and_arguments(binary):
    root, datalist = binary["root"], binary["datalist"]
    out = root / "out"
    ok = _csv(root / "ok.csv", _binary_rows(binary["names"], [0.5] * 8))
    cases = {
        "unknown.csv": ([{"image": "a", "prob_malignant": 0.5, "prob_benign": 0.5}], "not classes of task"),
        "negative.csv": ([{"image": "a", "prob_non_malignant": 0.5}], "or prob_malignant alone"),
        "noimage.csv": ([{"path": "a", "prob_malignant": 0.5}], "no 'image' column"),
    }
    for name, (rows, message) in cases.items():
        with pytest.raises(ValueError, match=message):
            _evaluate(_csv(root / name, rows), datalist, out)
    with pytest.raises(ValueError, match="'lesion_index' column is needed"):
        _evaluate(ok, datalist, out, task="pathology")
    partial = _csv(root / "partial.csv", [{"image": "a", "lesion_index": 0, "prob_benign_mass": 1.0}])
    with pytest.raises(ValueError, match="do not cover task"):
        _evaluate(partial, datalist, out, task="type_pathology")
    (root / "obj.json").write_text('{"rows": []}')
    (root / "broken.json").write_text("[{")
    (root / "p.txt").write_text("image\n")
    for name, message in (("obj.json", "list of row objects"), ("broken.json", "not valid JSON"),
                          ("p.txt", "expected a .csv or .json")):
        with pytest.raises(ValueError, match=message):
            read_predictions(root / name, label_set("malignant"))
    with pytest.raises(FileNotFoundError, match="prediction file not found"):
        _evaluate(root / "missing.csv", datalist, out)
    with pytest.raises(FileNotFoundError, match="prediction file not found"):
        read_predictions(root / "missing.csv", label_set("malignant"))
    with pytest.raises(FileNotFoundError, match="validation prediction file not found"):
        _evaluate(ok, datalist, out, val_pred=root / "missing.csv")
    with pytest.raises(FileNotFoundError, match="label datalist not found"):
        _evaluate(ok, root / "nope.json", out)
    with pytest.raises(ValueError, match="unknown classification task"):
        _evaluate(ok, datalist, out, task="density")
    with pytest.raises(ValueError, match="split must be one of"):
        _evaluate(ok, datalist, out, split="train")
    with pytest.raises(ValueError, match="has no item"):
        _evaluate(ok, datalist, out, split="training")
    with pytest.raises(ValueError, match="fixed_sensitivities"):
        _evaluate(ok, datalist, out, fixed_sensitivities=(0.0,))
    with pytest.raises(ValueError, match="n_bins"):
        _evaluate(ok, datalist, out, n_bins=0)
    assert not out.exists()  # nothing written by a refused run


def test_overwrite_protection(binary):
    pred = _csv(binary["root"] / "p.csv", _binary_rows(binary["names"], [0.9 if t else 0.1 for t in binary["truth"]]))
    out = binary["root"] / "out"
    out.mkdir()
    (out / "per_item.csv").write_text("mine\n")
    with pytest.raises(FileExistsError, match="per_item.csv: already exists"):
        _evaluate(pred, binary["datalist"], out)
    assert (out / "per_item.csv").read_text() == "mine\n" and sorted(p.name for p in out.iterdir()) == ["per_item.csv"]
    r = _evaluate(pred, binary["datalist"], out, overwrite=True)
    assert r.paths["per_item"].read_text().startswith("image,")
    # even with overwrite, a report file never replaces an input
    own = _csv(out / "per_item.csv", _binary_rows(binary["names"], [0.5] * 8))
    with pytest.raises(ValueError, match="would replace an input"):
        _evaluate(own, binary["datalist"], out, overwrite=True)


# -------------------------------------------------------------------------------------------------- CLI


def test_cli_eval_classification(binary, capsys):
    scores = [0.8, 0.7, 0.9, 0.4, 0.3, 0.1, 0.6, 0.2]
    pred = _csv(binary["root"] / "p.csv", _binary_rows(binary["names"], scores))
    out = binary["root"] / "report"
    args = ["eval", "classification", "--pred", str(pred), "--label", str(binary["datalist"]), "--out", str(out),
            "--task", "malignant", "--n_resamples", "30", "--fixed_sensitivities", "0.8"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "evaluated 8 of 8 items" in printed and "specificity at sensitivity 0.8" in printed
    saved = json.loads((out / "classification_metrics.json").read_text())
    assert saved["settings"]["fixed_sensitivities"] == [0.8] and saved["settings"]["n_resamples"] == 30
    assert saved["metrics"]["auc"]["macro"]["estimate"] == pytest.approx(roc_auc_score(binary["truth"], scores))
    assert main(args) == 2  # the report exists: refused, one line naming the file
    assert "already exists" in capsys.readouterr().err
    assert main([*args, "--overwrite"]) == 0
