"""Pinned evaluator outputs: every JSON/CSV report of the three evaluators on small seeded studies, compared with
golden files written before the evaluation modules were split (issue 22), so a refactor that changes any number
fails here. Paths are written relative to the study folder; floats are compared to 1e-9 (relative).

To rewrite the golden files after a deliberate change of the reports:
``MAMMO_UPDATE_GOLDEN=1 pytest tests/evaluation/test_golden_reports.py`` (and say why in the commit).
"""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mammo_monai.data.labels import label_set
from mammo_monai.data.schema import make_item, make_lesion, write_datalist
from mammo_monai.evaluation import (
    evaluate_classification,
    evaluate_detection,
    evaluate_segmentation,
    format_classification_summary,
    format_detection_summary,
    format_segmentation_summary,
)

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("MAMMO_UPDATE_GOLDEN") == "1"
N = 60  # bootstrap draws
SHAPE = (48, 40)


def _png(path: Path, array: np.ndarray) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, dtype=np.uint8)).save(path)
    return str(path)


def _csv(path: Path, rows: list[dict]) -> Path:
    columns = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def _box_mask(rng: np.random.Generator, shape=SHAPE) -> np.ndarray:
    mask = np.zeros(shape, bool)
    r, c = rng.integers(2, shape[0] - 14), rng.integers(2, shape[1] - 14)
    h, w = rng.integers(3, 12, 2)
    mask[r:r + h, c:c + w] = True
    return mask


# ------------------------------------------------------------------------------------------------ studies


def _segmentation_study(root: Path) -> dict:
    """Twelve images of six patients; random boxes as truth, shifted/grown/shrunk/empty predictions."""
    rng = np.random.default_rng(22)
    items, preds = [], root / "preds"
    for i in range(12):
        stem, patient = f"s{i:02d}", f"P{i // 2}"
        item = {"image": _png(root / "images" / f"{stem}.png", rng.integers(0, 256, SHAPE)), "patient_id": patient}
        truth = _box_mask(rng) if i % 5 != 4 else np.zeros(SHAPE, bool)
        if truth.any():
            item["label"] = _png(root / "labels" / f"{stem}_mask.png", truth * 255)
        items.append(item)
        kind = i % 4
        if kind == 0:
            pred = np.roll(truth, int(rng.integers(-3, 4)), axis=1)
        elif kind == 1:
            pred = truth | _box_mask(rng)
        elif kind == 2:
            pred = np.zeros(SHAPE, bool)
        else:
            pred = truth.copy()
            pred[rng.random(SHAPE) < 0.2] = False
        _png(preds / f"{stem}.png", pred * 255)
    datalist = root / "datalist.json"
    datalist.write_text(json.dumps({"training": [], "validation": [], "test": items}))
    return {"datalist": datalist, "preds": preds}


def _classification_items(rng: np.random.Generator, prefix: str, n: int) -> tuple[list[dict], list[dict]]:
    items, rows = [], []
    types, pathologies = ("mass", "calcification"), ("benign", "malignant")
    for i in range(n):
        name = f"{prefix}{i:02d}"
        lesions = [make_lesion(types[int(rng.integers(2))], pathologies[int(rng.integers(2))], center=(10, 10),
                               radius=3) for _ in range(int(rng.integers(0, 3)))]
        items.append(make_item(f"imgs/{name}.png", f"{prefix}P{i // 3}", "LR"[i % 2], ("CC", "MLO")[i % 2],
                               lesions=lesions))
        malignant = any(x["pathology"] == "malignant" for x in lesions)
        rows.append({"image": f"imgs/{name}.png",
                     "prob_malignant": round(float(np.clip(0.3 * malignant + 0.7 * rng.random(), 0, 1)), 4)})
    return items, rows


def _classification_study(root: Path) -> dict:
    rng = np.random.default_rng(7)
    test, test_rows = _classification_items(rng, "t", 30)
    val, val_rows = _classification_items(rng, "v", 18)
    datalist = write_datalist({"training": [], "validation": val, "test": test}, root / "datalist.json",
                              overwrite=True)
    classes = label_set("type_pathology").classes
    lesion_rows = []
    for item in test:
        for k, _ in enumerate(item["lesions"]):
            p = rng.dirichlet(np.ones(len(classes)))
            lesion_rows.append({"image": item["image"], "lesion_index": k,
                                **{f"prob_{c}": round(float(v), 4) for c, v in zip(classes, p)}})
    abnormal_rows = [{"image": r["image"], "prob_abnormal": r["prob_malignant"]} for r in test_rows]
    pathology_rows = [{"image": r["image"], "lesion_index": r["lesion_index"],
                       "prob_malignant": round(sum(v for k, v in r.items() if k.endswith("_malignant")), 4)}
                      for r in lesion_rows]
    return {"datalist": datalist, "pred": _csv(root / "test.csv", test_rows), "val": _csv(root / "val.csv", val_rows),
            "abnormal_pred": _csv(root / "abnormal.csv", abnormal_rows),
            "lesion_pred": _csv(root / "lesions.csv", lesion_rows),
            "pathology_pred": _csv(root / "pathology.csv", pathology_rows)}


def _detection_study(root: Path) -> dict:
    """Sixteen images of eight patients: masses with a mask, with centre + radius, with a box only,
    calcifications by centre + radius, normal images; seeded candidates near and away from the lesions."""
    rng = np.random.default_rng(3)
    items, preds = [], root / "preds"
    preds.mkdir(parents=True)
    for i in range(16):
        name = f"d{i:02d}"
        _png(root / "imgs" / f"{name}.png", np.full(SHAPE, 100))
        lesions, centres = [], []
        for k in range(int(rng.integers(0, 3))):
            kind = int(rng.integers(4))
            r, c = int(rng.integers(8, SHAPE[0] - 8)), int(rng.integers(8, SHAPE[1] - 8))
            if kind == 0:
                mask = np.zeros(SHAPE, np.uint8)
                mask[r - 4:r + 4, c - 3:c + 3] = 255
                _png(root / "masks" / f"{name}_{k}.png", mask)
                lesions.append(make_lesion("mass", "malignant", center=(r, c), radius=6, mask=f"masks/{name}_{k}.png"))
            elif kind == 1:
                lesions.append(make_lesion("mass", "benign", center=(r, c), radius=5))
            elif kind == 2:
                lesions.append(make_lesion("mass", "benign", box=(r - 4, c - 4, r + 4, c + 4)))
            else:
                lesions.append(make_lesion("calcification", "malignant", center=(r, c), radius=3))
            centres.append((r, c))
        items.append(make_item(f"imgs/{name}.png", f"P{i // 2}", "LR"[i % 2], ("CC", "MLO")[i % 2], lesions=lesions))
        candidates = [{"score": round(float(rng.random()), 3),
                       "center": [round(float(r + rng.normal(0, 3)), 2), round(float(c + rng.normal(0, 3)), 2)],
                       "class": "mass"} for r, c in centres if rng.random() < 0.8]
        candidates += [{"score": round(float(rng.random()) * 0.8, 3),
                        "center": [round(float(rng.uniform(0, SHAPE[0] - 1)), 2),
                                   round(float(rng.uniform(0, SHAPE[1] - 1)), 2)], "class": "mass"}
                       for _ in range(int(rng.integers(0, 4)))]
        (preds / f"{name}.json").write_text(json.dumps({"image": f"imgs/{name}.png", "image_shape": list(SHAPE),
                                                        "candidates": candidates}))
    datalist = write_datalist({"training": [], "validation": [], "test": items}, root / "datalist.json",
                              overwrite=True)
    return {"datalist": datalist, "preds": preds}


# ------------------------------------------------------------------------------------------------ runs


def _run_segmentation(root: Path) -> tuple[Path, str]:
    s = _segmentation_study(root)
    out = root / "seg_out"
    report = evaluate_segmentation(s["preds"], s["datalist"], out, spacing=0.5, n_resamples=N, seed=1, overlays=2)
    return out, format_segmentation_summary(report)


def _run_classification(root: Path) -> list[tuple[Path, str]]:
    s = _classification_study(root)
    runs = []
    for name, pred, task, kw in [("cls_malignant", s["pred"], "malignant", {"val_pred": s["val"]}),
                                 ("cls_abnormal", s["abnormal_pred"], "abnormal", {}),
                                 ("cls_pathology", s["pathology_pred"], "pathology", {"val_pred": s["pathology_pred"]}),
                                 ("cls_type_pathology", s["lesion_pred"], "type_pathology", {})]:
        out = root / name
        report = evaluate_classification(pred, s["datalist"], out, task, n_resamples=N, seed=2, n_bins=5,
                                         fixed_sensitivities=(0.8, 0.9), **kw)
        runs.append((out, format_classification_summary(report)))
    return runs


def _run_detection(root: Path) -> tuple[Path, str]:
    s = _detection_study(root)
    out = root / "det_out"
    report = evaluate_detection(s["preds"], s["datalist"], out, n_resamples=N, seed=3)
    return out, format_detection_summary(report)


def _normalise(value, root: str):
    if isinstance(value, dict):
        return {k: _normalise(v, root) for k, v in value.items() if k not in ("created", "timestamp", "date")}
    if isinstance(value, list):
        return [_normalise(v, root) for v in value]
    if isinstance(value, str):
        return value.replace(root, "<root>")
    return value


def _number(cell: str):
    """A CSV cell as a float where it is one (compared to 1e-9 like the JSON numbers), else the text."""
    try:
        return float(cell)
    except ValueError:
        return cell


def _snapshot(out: Path, summary: str, root: Path) -> dict:
    """Every JSON and CSV file under ``out`` (paths made relative to the study folder) and the printed summary."""
    files = {}
    for path in sorted(out.rglob("*")):
        rel = path.relative_to(out).as_posix()
        if path.suffix == ".json":
            files[rel] = _normalise(json.loads(path.read_text()), str(root))
        elif path.suffix == ".csv":
            with open(path, newline="") as f:
                files[rel] = _normalise([[_number(cell) for cell in row] for row in csv.reader(f)], str(root))
    return {"files": files, "summary": summary.replace(str(root), "<root>")}


def _assert_same(actual, expected, where: str = "") -> None:
    if isinstance(expected, dict):
        assert isinstance(actual, dict) and sorted(actual) == sorted(expected), where
        for k in expected:
            _assert_same(actual[k], expected[k], f"{where}/{k}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), where
        for i, (a, e) in enumerate(zip(actual, expected)):
            _assert_same(a, e, f"{where}[{i}]")
    elif isinstance(expected, float) and isinstance(actual, (int, float)):
        assert (math.isnan(actual) and math.isnan(expected)) or actual == pytest.approx(expected, rel=1e-9,
                                                                                       abs=1e-12), where
    else:
        assert actual == expected, where


def _check(name: str, snapshot: dict) -> None:
    path = GOLDEN / f"{name}.json"
    if UPDATE:
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(json.dumps(snapshot, indent=1, sort_keys=True) + "\n")
    expected = json.loads(path.read_text())
    _assert_same(snapshot, expected, name)


def test_segmentation_report_is_pinned(tmp_path: Path):
    out, summary = _run_segmentation(tmp_path)
    _check("segmentation", _snapshot(out, summary, tmp_path))


def test_classification_reports_are_pinned(tmp_path: Path):
    for out, summary in _run_classification(tmp_path):
        _check(out.name, _snapshot(out, summary, tmp_path))


def test_detection_report_is_pinned(tmp_path: Path):
    out, summary = _run_detection(tmp_path)
    _check("detection", _snapshot(out, summary, tmp_path))
