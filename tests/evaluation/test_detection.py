"""Detection evaluation: hit rules, hand-computed lesion-level FROC, MONAI agreement, patient bootstrap, prediction
files and their problems, reports, CLI."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
from monai.metrics import compute_fp_tp_probs_nd, compute_froc_curve_data, compute_froc_score
from PIL import Image

from mammo_monai.cli import main
from mammo_monai.data.schema import make_item, make_lesion, write_datalist
from mammo_monai.evaluation import (
    DETECTION_REPORT_FILES,
    bootstrap_by_group,
    evaluate_detection,
    format_detection_summary,
    froc_curve,
    froc_curve_data,
    froc_metrics,
    hits_lesion,
    read_detections,
)

N = 40  # bootstrap draws in these tests (fast; the default is 2000)
SHAPE = (64, 64)


def _png(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, dtype=np.uint8)).save(path)
    return path


def _datalist(root: Path, test: list[dict], training: list[dict] = ()) -> Path:
    return write_datalist({"training": list(training), "validation": [], "test": list(test)},
                          root / "datalist.json", overwrite=True)


def _write_pred(folder: Path, name: str, image: str, candidates: list, shape: tuple | None = SHAPE) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    data = {"image": image, "classes": ["normal", "mass", "calcification"],
            "candidates": [c if isinstance(c, dict) else {"score": c[0], "center": list(c[1]), "class": "mass"}
                           for c in candidates]}
    if shape is not None:
        data["image_shape"] = list(shape)
    path = folder / f"{name}.json"
    path.write_text(json.dumps(data))
    return path


#: the hand case: candidates (score, (row, col)) per image
CANDIDATES = {
    # a1: mass with a mask (rows/cols 10..19) and a larger radius; an architectural distortion (ignored)
    "a1": [(0.9, (15, 15)),    # 0: in the mask: hits the mass
           (0.6, (12, 18)),    # 1: in the mask again: the mass is already hit, not a false positive
           (0.7, (50, 52)),    # 2: on the ignored architectural distortion: neither TP nor FP
           (0.4, (40, 5)),     # 3: false positive
           (0.8, (15, 30))],   # 4: within the mass's radius but outside its mask: false positive (mask wins)
    # a2: calcification by centre + radius 4
    "a2": [(0.5, (33, 32)),    # distance 3.6: hit
           (0.3, (30, 35))],   # distance 5: false positive
    # b1: mass with a box only ([5, 40, 15, 50), half-open); a calcification without position
    "b1": [(0.2, (14.4, 49.4)),  # pixel (14, 49): inside the box
           (0.35, (15, 45))],    # row 15 is outside the half-open box: false positive
    # c1: no lesion: false positives only (0.2 ties with b1's hit)
    "c1": [(0.95, (20, 20)), (0.2, (40, 40))],
}


@pytest.fixture
def case(tmp_path: Path) -> dict:
    """Four 64x64 test images of three patients (a1, a2 of patient P1; b1 of P2; c1 of P3, without lesion)."""
    imgs = tmp_path / "imgs"
    for name in CANDIDATES:
        _png(imgs / f"{name}.png", np.full(SHAPE, 100))
    mask = np.zeros(SHAPE, np.uint8)
    mask[10:20, 10:20] = 255
    _png(tmp_path / "masks" / "a1_mass.png", mask)
    L = make_lesion
    items = [
        make_item("imgs/a1.png", "P1", "L", "CC", lesions=[
            L("mass", "malignant", center=(15, 15), radius=20, mask="masks/a1_mass.png"),
            L("architectural_distortion", "benign", center=(50, 50), radius=5)]),
        make_item("imgs/a2.png", "P1", "L", "MLO", lesions=[L("calcification", "benign", center=(30, 30), radius=4)]),
        make_item("imgs/b1.png", "P2", "R", "CC", lesions=[L("mass", "benign", box=(5, 40, 15, 50)),
                                                           L("calcification", "malignant")]),
        make_item("imgs/c1.png", "P3", "R", "MLO"),
    ]
    preds = tmp_path / "preds"
    for name, candidates in CANDIDATES.items():
        _write_pred(preds, name, f"imgs/{name}.png", candidates)
    return {"root": tmp_path, "items": items, "preds": preds, "datalist": _datalist(tmp_path, items)}


def _evaluate(case: dict, out: str = "out", **kw):
    kw.setdefault("n_resamples", N)
    return evaluate_detection(case["preds"], case["datalist"], case["root"] / out, **kw)


# ------------------------------------------------------------------------------------------------ units


def test_hits_lesion_rules():
    mask = np.zeros((10, 10), bool)
    mask[2:5, 2:5] = True
    centers = [[2.0, 2.0], [4.4, 4.6], [6.0, 6.0], [-1.0, 3.0], [3.0, 12.0]]
    lesion = {"center": [3, 3], "radius": 5.0, "box": [0, 0, 10, 10]}
    assert hits_lesion(centers, lesion, mask)[0].tolist() == [True, False, False, False, False]  # 4.6 -> pixel 5
    hits, rule = hits_lesion(centers, lesion)
    assert rule == "radius" and hits.tolist() == [True, True, True, True, False]  # (6, 6): 4.24, (-1, 3): 4
    hits, rule = hits_lesion(centers, {"center": None, "radius": None, "box": [2, 2, 6, 6]})
    assert rule == "box" and hits.tolist() == [True, True, False, False, False]
    hits, rule = hits_lesion(centers, {"center": [3, 3], "radius": None, "box": None})
    assert rule == "none" and not hits.any()
    assert hits_lesion(np.zeros((0, 2)), lesion)[0].shape == (0,)


def test_froc_curve_data_is_monais():
    rng = np.random.default_rng(0)
    for n_fp, n_tp in ((0, 0), (1, 0), (0, 3), (30, 12), (200, 40)):
        fp = rng.integers(0, 20, n_fp) / 20.0  # many ties, and zeros
        tp = rng.integers(0, 20, n_tp) / 20.0
        mine = froc_curve_data(fp, tp, max(n_tp, 1), 7)
        theirs = compute_froc_curve_data(fp, tp, max(n_tp, 1), 7)
        np.testing.assert_array_equal(mine[0], theirs[0])
        np.testing.assert_array_equal(mine[1], theirs[1])
        assert mine[2][-1] == math.inf and len(mine[2]) == len(theirs[0])


def test_froc_metrics_agree_with_monai():
    """With a missed lesion (CAMELYON16's 0) and positive scores, froc_metrics is MONAI's score exactly; with
    every lesion hit MONAI would drop the lowest real score, the sentinel does not."""
    fp = np.array([0.9, 0.7, 0.7, 0.4, 0.3, 0.1])
    lesions = np.array([0.8, 0.7, 0.2, np.nan, np.nan])
    rates = (0.25, 0.5, 1, 2, 4, 8)
    m = froc_metrics(fp, lesions, num_images=3, fp_rates=rates)
    tp = np.nan_to_num(lesions, nan=0.0)
    fps, sens = compute_froc_curve_data(fp, tp, len(tp), 3)
    assert m["cpm"] == pytest.approx(compute_froc_score(fps, sens, rates))
    for r in rates:
        assert m[f"sensitivity/{r:g}"] == pytest.approx(compute_froc_score(fps, sens, (r,)))
    assert m["max_sensitivity"] == 0.6 and m["fp_per_image"] == 2.0
    # every lesion hit: the lowest score (an FP at 0.1 here) is an operating point of ours only
    hit = np.array([0.8, 0.7, 0.2])
    ours_fps, ours_sens, thr = froc_curve(fp, hit, 3)
    assert thr[0] == 0.1 and ours_fps[0] == 2.0 and ours_sens[0] == 1.0
    assert compute_froc_curve_data(fp, hit, 3, 3)[0][0] == pytest.approx(5 / 3)  # MONAI starts at 0.2
    nothing = froc_metrics(fp, [], num_images=3)
    assert math.isnan(nothing["cpm"]) and math.isnan(nothing["sensitivity/1"]) and nothing["fp_per_image"] == 2.0


# ------------------------------------------------------------------------------------------ the hand case


def test_hand_computed_froc(case):
    r = _evaluate(case)
    m = r.summary["metrics"]
    # lesions: mass (mask) 0.9, calcification (radius) 0.5, mass (box) 0.2; FPs 0.8, 0.4 | 0.3 | 0.35 | 0.95, 0.2
    # on 4 images. Curve (FP/image, sensitivity) by ascending threshold: 0.2 (1.5, 1), 0.3 (1.25, 2/3),
    # 0.35 (1, 2/3), 0.4 (0.75, 2/3), 0.5 (0.5, 2/3), 0.8 (0.5, 1/3), 0.9 (0.25, 1/3), 0.95 (0.25, 0), (0, 0)
    expected = {"0.125": 0.0, "0.25": 1 / 3, "0.5": 2 / 3, "1": 2 / 3, "2": 1.0, "4": 1.0, "8": 1.0}
    assert {k: v["estimate"] for k, v in m["all"]["sensitivity"].items()} == pytest.approx(expected)
    assert m["all"]["cpm"]["estimate"] == pytest.approx(2 / 3)
    assert m["all"]["fp_per_image"]["estimate"] == 1.5 and m["all"]["max_sensitivity"]["estimate"] == 1.0
    mass = {"0.125": 0.0, "0.25": 0.5, "0.5": 0.5, "1": 0.5, "2": 1.0, "4": 1.0, "8": 1.0}
    calc = {"0.125": 0.0, "0.25": 0.0, "0.5": 1.0, "1": 1.0, "2": 1.0, "4": 1.0, "8": 1.0}
    by_type = m["by_type"]
    assert {k: v["estimate"] for k, v in by_type["mass"]["sensitivity"].items()} == pytest.approx(mass)
    assert {k: v["estimate"] for k, v in by_type["calcification"]["sensitivity"].items()} == pytest.approx(calc)
    assert by_type["mass"]["cpm"]["estimate"] == pytest.approx(9 / 14)
    assert by_type["calcification"]["cpm"]["estimate"] == pytest.approx(5 / 7)
    # the tie at 0.2 (b1's hit, c1's FP) is one diagonal segment: interpolation between (1.25, 2/3) and (1.5, 1)
    tie = _evaluate(case, out="tie", fp_rates=(1.375,))
    assert tie.summary["metrics"]["all"]["sensitivity"]["1.375"]["estimate"] == pytest.approx(5 / 6)
    assert tie.summary["metrics"]["all"]["cpm"]["estimate"] == pytest.approx(5 / 6)

    c = r.summary["counts"]
    assert (c["images"], c["evaluated"], c["patients"], c["missing"]) == (4, 4, 3, 0)
    assert c["lesions"] == {"mass": 2, "calcification": 1} and c["lesions_hit"] == {"mass": 2, "calcification": 1}
    assert c["lesions_without_position"] == {"calcification": 1}
    assert c["ignored_lesions"] == {"architectural_distortion": 1}
    assert c["hit_rule"] == {"mask": 1, "radius": 1, "box": 1}
    assert (c["candidates"], c["tp_candidates"], c["ignored_candidates"], c["fp_candidates"]) == (11, 4, 1, 6)
    assert c["evaluated_without_target_lesion"] == 1
    assert c["prediction_files"]["matched"] == 4 and c["prediction_files"]["matched_by_stem"] == 0
    assert r.problems.counts() == {"lesion_without_position": 1}
    assert "b1.png#lesions[1]" in r.problems.problems[0].path

    lesions = {(Path(x["image"]).stem, x["lesion_index"]): x for x in r.lesions}
    a1 = lesions[("a1", 0)]
    assert (a1["role"], a1["rule"], a1["hit"], a1["score"], a1["hit_by"], a1["n_hits"]) == ("target", "mask", True,
                                                                                            0.9, 0, 2)
    assert a1["mask"].endswith("masks/a1_mass.png")
    assert (lesions[("a1", 1)]["role"], lesions[("a1", 1)]["hit"]) == ("ignored_type", None)
    assert (lesions[("a2", 0)]["rule"], lesions[("a2", 0)]["hit_by"]) == ("radius", 0)
    assert (lesions[("b1", 0)]["rule"], lesions[("b1", 0)]["score"]) == ("box", 0.2)
    assert (lesions[("b1", 1)]["role"], lesions[("b1", 1)]["rule"]) == ("no_position", "none")

    images = {Path(x["image"]).stem: x for x in r.images}
    assert [images[n]["n_fp"] for n in CANDIDATES] == [2, 1, 1, 2]
    assert images["a1"]["n_ignored_candidates"] == 1 and images["a1"]["n_tp_candidates"] == 2
    assert images["c1"]["fp_scores"] == "0.95;0.2" and images["c1"]["max_fp_score"] == 0.95
    # operating point at 1 FP/image: the lowest threshold with <= 1 FP/image is 0.35 (4 FPs on 4 images)
    op = r.summary["operating_points"]
    assert op["1"] == {"threshold": 0.35, "fp_per_image": 1.0, "sensitivity": pytest.approx(2 / 3)}
    assert op["0.125"]["threshold"] is None and op["2"]["threshold"] == 0.2
    assert [images[n]["fp_at_1"] for n in CANDIDATES] == [2, 0, 1, 1]
    assert [images[n]["fp_at_0.125"] for n in CANDIDATES] == [0, 0, 0, 0]


def test_report_files_and_summary(case):
    r = _evaluate(case)
    assert set(r.paths) == set(DETECTION_REPORT_FILES) and all(p.is_file() for p in r.paths.values())
    saved = json.loads(r.paths["metrics"].read_text())
    assert saved["metrics"]["all"]["cpm"]["estimate"] == pytest.approx(2 / 3)
    assert saved["settings"]["lesion_types"] == ["mass", "calcification"] and saved["settings"]["n_resamples"] == N
    with open(r.paths["per_lesion"]) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 5 and rows[0]["hit"] == "True" and rows[0]["score"] == "0.9" and rows[0]["hit_by"] == "0"
    with open(r.paths["per_image"]) as f:
        rows = list(csv.DictReader(f))
    assert [row["n_fp"] for row in rows] == ["2", "1", "1", "2"] and rows[0]["patient_id"] == "P1"
    with open(r.paths["curve"]) as f:
        curve = list(csv.DictReader(f))
    assert [float(row["threshold"]) for row in curve] == [0.95, 0.9, 0.8, 0.5, 0.4, 0.35, 0.3, 0.2]
    assert curve[-1]["n_fp"] == "6" and curve[-1]["sensitivity"] == "1.0" and curve[3]["sensitivity_mass"] == "0.5"
    with Image.open(r.paths["froc"]) as png:
        assert png.format == "PNG" and png.size == (520, 480)
    text = format_detection_summary(r)
    assert "evaluated 4 of 4 images (3 patients)" in text and "CPM       0.667" in text
    assert "mass (2)" in text and "6 false positives (1.500 per image)" in text


def test_ci_contains_estimate_and_resamples_patients(case):
    r = _evaluate(case, n_resamples=200, seed=3)
    m = r.summary["metrics"]
    for entry in (m["all"]["cpm"], *m["all"]["sensitivity"].values(), m["by_type"]["mass"]["cpm"]):
        assert entry["ci"][0] <= entry["estimate"] <= entry["ci"][1]
    # the same CPM bootstrapped by hand over the three patients (a1 and a2 of P1 move together) ...
    fp = {"a1": [0.8, 0.4], "a2": [0.3], "b1": [0.35], "c1": [0.95, 0.2]}
    les = {"a1": [0.9], "a2": [0.5], "b1": [0.2], "c1": []}
    order = list(CANDIDATES)

    def cpm(idx: np.ndarray) -> float:
        lesions = [s for i in idx for s in les[order[i]]]
        scores = [s for i in idx for s in fp[order[i]]]
        return froc_metrics(scores, lesions, len(idx))["cpm"] if lesions else float("nan")

    by_patient = bootstrap_by_group(cpm, ["P1", "P1", "P2", "P3"], 200, seed=3)
    by_image = bootstrap_by_group(cpm, [0, 1, 2, 3], 200, seed=3)
    assert m["all"]["cpm"]["ci"] == pytest.approx([by_patient["low"], by_patient["high"]])
    assert m["all"]["cpm"]["n_invalid"] == by_patient["n_invalid"] > 0  # draws of c1 (no lesion) only
    assert [by_image["low"], by_image["high"]] != pytest.approx([by_patient["low"], by_patient["high"]])


def test_matches_monai_camelyon_on_labelled_masks(tmp_path):
    """Masks only, integer centres, a missed lesion: the FROC equals MONAI's compute_fp_tp_probs_nd +
    compute_froc_curve_data + compute_froc_score run on one labelled mask per image (CAMELYON16)."""
    rng = np.random.default_rng(7)
    shape = (40, 40)
    items, fp_all, tp_all, n_targets = [], [], [], 0
    preds = tmp_path / "preds"
    for n in range(5):
        labelled = np.zeros(shape, np.int64)
        lesions = []
        for k in range(n % 3 + 1):  # 1 to 3 lesions, disjoint squares
            r0, c0 = 2 + 12 * k, 4 + 3 * n
            labelled[r0:r0 + 8, c0:c0 + 8] = k + 1
            mask = (labelled == k + 1).astype(np.uint8)
            lesions.append(make_lesion("mass", "benign", mask=str(_png(tmp_path / f"m{n}_{k}.png", mask * 255))))
        centres = rng.integers(0, shape[0], size=(12, 2))
        scores = rng.integers(1, 64, size=12) / 64.0  # exact in float32 (MONAI's tp_probs dtype)
        _write_pred(preds, f"i{n}", str(tmp_path / f"i{n}.png"), list(zip(scores.tolist(), centres.tolist())), shape)
        items.append(make_item(tmp_path / f"i{n}.png", f"P{n // 2}", "L", "CC", lesions=lesions))
        fp, tp, targets = compute_fp_tp_probs_nd(scores, centres, labelled)
        fp_all.append(fp)
        tp_all.append(tp.astype(float))
        n_targets += targets
    fps, sens = compute_froc_curve_data(np.concatenate(fp_all), np.concatenate(tp_all), n_targets, 5)
    assert (np.concatenate(tp_all) == 0).any()  # a missed lesion, so MONAI's skipped lowest value is its 0
    r = evaluate_detection(preds, _datalist(tmp_path, items), tmp_path / "out", lesion_types=["mass"], n_resamples=N)
    m = r.summary["metrics"]["all"]
    assert m["cpm"]["estimate"] == pytest.approx(compute_froc_score(fps, sens, (0.125, 0.25, 0.5, 1, 2, 4, 8)))
    for rate, entry in m["sensitivity"].items():
        assert entry["estimate"] == pytest.approx(compute_froc_score(fps, sens, (float(rate),)))
    assert r.summary["counts"]["fp_candidates"] == sum(len(f) for f in fp_all)
    assert r.summary["counts"]["hit_rule"] == {"mask": n_targets}
    assert not len(r.problems)  # no image file, but the predictions' image_shape checks the masks


# -------------------------------------------------------------------------------------------- problems


def test_missing_and_malformed_predictions_are_reported(case):
    preds = case["preds"]
    (preds / "c1.json").unlink()  # c1: no prediction
    (preds / "broken.json").write_text("{")  # not JSON
    (preds / "list.json").write_text("[]")  # not an object
    _write_pred(preds, "b1", "imgs/b1.png", [(0.2, (14, 49)), {"score": "high", "center": [1, 2]},
                                             {"center": [3]}])
    _write_pred(preds, "a2", "imgs/a2.png", [(0.5, (33, 32)), (0.1, (70, 3))])  # row 70 outside the 64x64 image
    r = _evaluate(case)
    counts = r.summary["counts"]
    assert (counts["evaluated"], counts["missing"]) == (1, 3)
    assert counts["missing_by_reason"] == {"bad_candidate": 2, "missing_prediction": 1}
    assert counts["lesions_on_unevaluated_images"] == {"calcification": 1, "mass": 1}
    assert counts["prediction_files"]["malformed"] == 2
    by_kind = {}
    for p in r.problems:
        by_kind.setdefault(p.kind, []).append(p)
    assert [Path(p.path).name for p in by_kind["malformed_prediction"]] == ["broken.json", "list.json"]
    assert "not valid JSON" in by_kind["malformed_prediction"][0].detail
    bad = {Path(p.path).name: p.detail for p in by_kind["bad_candidate"]}
    assert "candidates[1]: score 'high' is not a finite number" in bad["b1.json"]
    assert "candidates[2]: no 'score'" in bad["b1.json"] and "candidates[2]: center [3] is not [row, col]" in bad[
        "b1.json"]
    assert "candidates[1]: center [70.0, 3.0] is outside the image [64, 64]" in bad["a2.json"]
    assert Path(by_kind["missing_prediction"][0].path).name == "c1.png"
    images = {Path(x["image"]).stem: x for x in r.images}
    assert images["c1"]["status"] == "missing_prediction" and images["b1"]["status"] == "bad_candidate"
    assert images["b1"]["prediction"].endswith("b1.json") and images["b1"]["n_fp"] is None
    # only a1 is evaluated: 1 image in the FP/image denominator, a1's mass the only target
    m = r.summary["metrics"]["all"]
    assert m["fp_per_image"]["estimate"] == 2.0 and m["max_sensitivity"]["estimate"] == 1.0
    lesion_status = {(Path(x["image"]).stem, x["lesion_index"]): x["image_status"] for x in r.lesions}
    assert lesion_status[("a2", 0)] == "bad_candidate" and lesion_status[("a1", 0)] == "ok"
    assert "missing 3 (bad_candidate: 2, missing_prediction: 1)" in format_detection_summary(r)


def test_bad_lesion_mask_falls_back_and_is_reported(case):
    _png(case["root"] / "masks" / "a1_mass.png", np.full((32, 32), 255))  # not the image's 64x64
    r = _evaluate(case)
    problems = [p for p in r.problems if p.kind == "bad_lesion_mask"]
    assert len(problems) == 1 and problems[0].path.endswith("a1_mass.png")
    assert "mask shape (32, 32) differs from the image's (64, 64)" in problems[0].detail
    assert "the radius rule is used" in problems[0].detail and "a1.png#lesions[0]" in problems[0].detail
    a1 = next(x for x in r.lesions if x["image"].endswith("a1.png") and x["lesion_index"] == 0)
    assert a1["rule"] == "radius" and a1["n_hits"] == 3  # radius 20 around (15, 15) also takes (15, 30)
    # without an image file and image_shape the mask cannot be checked: used as it is, and said so
    (case["root"] / "imgs" / "a1.png").unlink()
    _write_pred(case["preds"], "a1", "imgs/a1.png", CANDIDATES["a1"], shape=None)
    r = _evaluate(case, out="out2")
    assert r.problems.counts()["unchecked_lesion_mask"] == 1
    a1 = next(x for x in r.lesions if x["image"].endswith("a1.png") and x["lesion_index"] == 0)
    assert a1["rule"] == "mask"


def test_image_shape_mismatch_makes_the_file_unusable(case):
    _write_pred(case["preds"], "a2", "imgs/a2.png", CANDIDATES["a2"], shape=(128, 128))
    r = _evaluate(case)
    problem = next(p for p in r.problems if p.kind == "image_shape_mismatch")
    assert problem.path.endswith("a2.json") and "image_shape [128, 128] differs from the image's [64, 64]" in \
        problem.detail
    assert r.summary["counts"]["missing_by_reason"] == {"image_shape_mismatch": 1}


def test_matching_by_stem_ambiguity_duplicates_and_other_splits(tmp_path):
    L = make_lesion
    items = [make_item("x/1-1.png", "A", "L", "CC", lesions=[L("mass", "benign", center=(5, 5), radius=3)]),
             make_item("y/1-1.png", "B", "L", "CC"),
             make_item("z/mdb001.png", "C", "L", "CC", lesions=[L("mass", "benign", center=(5, 5), radius=3)])]
    training = [make_item("z/mdb009.png", "D", "L", "CC")]
    datalist = _datalist(tmp_path, items, training)
    preds = tmp_path / "preds"
    _write_pred(preds, "a", "/elsewhere/mdb001.png", [(0.9, (5, 5))], shape=None)  # stem match
    _write_pred(preds, "b", str(tmp_path / "z" / "mdb001.png"), [(0.1, (5, 5))], shape=None)  # path match: wins
    _write_pred(preds, "c", "/elsewhere/1-1.png", [(0.5, (5, 5))], shape=None)  # two items have stem 1-1
    _write_pred(preds / "sub", "d", "x/1-1.png", [(0.7, (5, 5))], shape=None)  # relative to the datalist's folder
    _write_pred(preds, "e", "z/mdb009.png", [], shape=None)  # an image of the training split
    (preds / ".hidden.json").write_text("{")
    r = evaluate_detection(preds, datalist, tmp_path / "out", n_resamples=N)
    files = r.summary["counts"]["prediction_files"]
    assert (files["files"], files["matched"], files["matched_by_stem"], files["ambiguous_stem"]) == (5, 2, 0, 1)
    assert (files["duplicate"], files["unmatched"]) == (1, 1)
    kinds = {p.kind: p for p in r.problems}
    assert kinds["ambiguous_stem"].path.endswith("c.json") and "shared by 2 images" in kinds["ambiguous_stem"].detail
    assert kinds["duplicate_prediction"].path.endswith("a.json") and "b.json" in kinds["duplicate_prediction"].detail
    assert "it is an image of split 'training'" in kinds["unmatched_prediction"].detail
    images = {x["image"]: x for x in r.images}
    assert images[str(tmp_path / "z" / "mdb001.png")]["match"] == "path"
    assert images[str(tmp_path / "x" / "1-1.png")]["prediction"].endswith("sub/d.json")
    assert images[str(tmp_path / "y" / "1-1.png")]["status"] == "missing_prediction"
    # with the path-matched file gone, the stem match is used
    (preds / "b.json").unlink()
    r = evaluate_detection(preds, datalist, tmp_path / "out", n_resamples=N, overwrite=True)
    assert r.summary["counts"]["prediction_files"]["matched_by_stem"] == 1
    assert r.summary["metrics"]["all"]["max_sensitivity"]["estimate"] == 1.0


def test_read_detections_file_level_problems(tmp_path):
    cases = {
        "noimage.json": ({"candidates": []}, "no 'image' path"),
        "nocand.json": ({"image": "a.png"}, "no 'candidates' list"),
        "dictcand.json": ({"image": "a.png", "candidates": {}}, "'candidates' is a dict, not a list"),
        "shape.json": ({"image": "a.png", "image_shape": [64], "candidates": []}, "image_shape [64] is not"),
    }
    for name, (data, message) in cases.items():
        (tmp_path / name).write_text(json.dumps(data))
        p = read_detections(tmp_path / name)
        assert p.kind == "malformed_prediction" and message in p.error, name
    (tmp_path / "ok.json").write_text(json.dumps({"image": "a.png", "image_shape": [3, 4], "candidates": [
        {"score": -1.5, "center": [1.5, 2]}]}))
    p = read_detections(tmp_path / "ok.json")
    assert p.kind is None and p.image_shape == (3, 4) and p.scores.tolist() == [-1.5]
    assert p.centers.tolist() == [[1.5, 2.0]]
    with pytest.raises(FileNotFoundError, match="prediction file not found"):
        read_detections(tmp_path / "missing.json")


def test_bad_arguments_and_inputs(case):
    out = case["root"] / "bad"
    for kwargs, message in (({"split": "train"}, "split must be one of"),
                            ({"lesion_types": ["masses"]}, "lesion_types must be some of"),
                            ({"fp_rates": [0, 1]}, "fp_rates must be positive"),
                            ({"split": "training"}, "has no item")):
        with pytest.raises(ValueError, match=message):
            evaluate_detection(case["preds"], case["datalist"], out, n_resamples=N, **kwargs)
    with pytest.raises(FileNotFoundError, match="prediction folder not found"):
        evaluate_detection(case["root"] / "nope", case["datalist"], out)
    with pytest.raises(NotADirectoryError, match="folder of per-image .json"):
        evaluate_detection(case["datalist"], case["datalist"], out)
    with pytest.raises(FileNotFoundError, match="label datalist not found"):
        evaluate_detection(case["preds"], case["root"] / "nope.json", out)
    (case["root"] / "empty").mkdir()
    with pytest.raises(ValueError, match="no .json prediction file"):
        evaluate_detection(case["root"] / "empty", case["datalist"], out)
    assert not out.exists()
    r = evaluate_detection(case["preds"], case["datalist"], out, n_resamples=N, lesion_types="mass")
    assert list(r.summary["metrics"]["by_type"]) == ["mass"]
    # calcifications are ignored now (b1's, without position, too): a2's hit is left out, its 0.3 is still an FP
    assert r.summary["counts"]["ignored_lesions"] == {"architectural_distortion": 1, "calcification": 2}
    assert r.summary["counts"]["fp_candidates"] == 6 and r.summary["counts"]["ignored_candidates"] == 2
    assert not r.problems.counts().get("lesion_without_position")


def test_overwrite_protection(case):
    out = case["root"] / "out"
    out.mkdir()
    (out / "detection_per_image.csv").write_text("mine\n")
    with pytest.raises(FileExistsError, match="detection_per_image.csv: already exists"):
        _evaluate(case)
    assert (out / "detection_per_image.csv").read_text() == "mine\n"
    assert sorted(p.name for p in out.iterdir()) == ["detection_per_image.csv"]
    r = _evaluate(case, overwrite=True)
    assert r.paths["per_image"].read_text().startswith("image,")
    # the prediction folder is an input: no report is written into it (issue 21)
    before = sorted(p.name for p in case["preds"].iterdir())
    with pytest.raises(ValueError, match="inside the input folder|is the input folder"):
        evaluate_detection(case["preds"], case["datalist"], case["preds"], n_resamples=N)
    assert sorted(p.name for p in case["preds"].iterdir()) == before
    label = case["root"] / "detection_metrics.json"  # a datalist named like a report file
    label.write_text(case["datalist"].read_text())
    with pytest.raises(ValueError, match="would replace the label datalist"):
        evaluate_detection(case["preds"], label, case["root"], overwrite=True)


# -------------------------------------------------------------------------------------------------- CLI


def test_cli_eval_detection(case, capsys):
    out = case["root"] / "report"
    args = ["eval", "detection", "--pred", str(case["preds"]), "--label", str(case["datalist"]), "--out", str(out),
            "--n_resamples", "30", "--lesion_types", '["mass", "calcification"]', "--fp_rates", "[0.5, 1, 2]"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "evaluated 4 of 4 images (3 patients)" in printed and "CPM" in printed
    assert all((out / name).is_file() for name in DETECTION_REPORT_FILES.values())
    with Image.open(out / DETECTION_REPORT_FILES["froc"]) as png:
        png.load()
        assert png.format == "PNG" and png.size == (520, 480)
    saved = json.loads((out / DETECTION_REPORT_FILES["metrics"]).read_text())
    assert saved["settings"]["fp_rates"] == [0.5, 1.0, 2.0] and saved["settings"]["n_resamples"] == 30
    assert saved["metrics"]["all"]["cpm"]["estimate"] == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)
    assert main(args) == 2  # the report exists: refused, one line naming the file
    assert "already exists" in capsys.readouterr().err
    assert main([*args, "--overwrite", "--lesion_types", "mass"]) == 0
    saved = json.loads((out / DETECTION_REPORT_FILES["metrics"]).read_text())
    assert saved["settings"]["lesion_types"] == ["mass"]


def test_no_target_lesion_and_no_evaluated_image(tmp_path):
    items = [make_item(f"imgs/n{i}.png", f"P{i}", "L", "CC") for i in range(2)]
    datalist = _datalist(tmp_path, items)
    preds = tmp_path / "preds"
    _write_pred(preds, "n0", "imgs/n0.png", [(0.5, (3, 3))], shape=None)
    _write_pred(preds, "n1", "imgs/n1.png", [], shape=None)
    r = evaluate_detection(preds, datalist, tmp_path / "out", n_resamples=N)
    m = r.summary["metrics"]["all"]
    assert math.isnan(m["cpm"]["estimate"]) and m["fp_per_image"]["estimate"] == 0.5
    assert json.loads(r.paths["metrics"].read_text())["metrics"]["all"]["cpm"]["estimate"] is None
    assert "CPM       - [-, -]" in format_detection_summary(r)
    (preds / "n0.json").unlink()
    (preds / "n1.json").write_text(json.dumps({"image": "imgs/other.png", "candidates": []}))
    r = evaluate_detection(preds, datalist, tmp_path / "out", n_resamples=N, overwrite=True)
    assert r.summary["counts"]["evaluated"] == 0 and r.summary["counts"]["missing"] == 2
    assert r.summary["operating_points"] == {} and r.paths["froc"].is_file()
    assert r.problems.counts() == {"unmatched_prediction": 1, "missing_prediction": 2}
