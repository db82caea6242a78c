"""Cross-validation folds by woman: no woman in two folds or on two sides of a fold; strata spread; clear errors."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from mammo_monai.data.folds import cv_fold_datalists, fold_class_problems, fold_of_patient
from mammo_monai.data.mias import index_mias
from mammo_monai.data.pairing import add_contralateral_images
from mammo_monai.data.schema import CONTRALATERAL_IMAGE, SPLITS, load_datalist
from mammo_monai.data.splits import patient_overlaps


def _items(n_women: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    items = []
    for w in range(n_women):
        kind = rng.choices(["normal", "mass", "calcification"], weights=[6, 3, 1])[0]
        for side in "LR":
            lesions = [{"type": kind, "pathology": "benign"}] if kind != "normal" and side == "L" else []
            items.append({"image": f"w{w}{side}.png", "patient_id": f"W{w:03d}", "laterality": side, "view": "MLO",
                          "pathology": "benign" if lesions else "normal", "lesions": lesions})
    return items


@pytest.mark.parametrize("n_folds", [2, 5])
def test_no_woman_in_two_folds_or_two_sides(n_folds):
    items = _items(60)
    folds = cv_fold_datalists(items, n_folds=n_folds, seed=3)
    owner = fold_of_patient(folds)
    assert len(owner) == 60 and sorted(set(owner.values())) == list(range(n_folds))
    for fold in folds:
        assert patient_overlaps(fold) == {}
        assert sum(len(fold[s]) for s in SPLITS) == len(items)  # every item once per fold
    tested = Counter(item["image"] for fold in folds for item in fold["test"])
    assert set(tested.values()) == {1} and len(tested) == len(items)


def test_strata_spread_and_seeded():
    items = _items(80, seed=1)
    folds = cv_fold_datalists(items, n_folds=5, seed=0)
    assert cv_fold_datalists(items, n_folds=5, seed=0) == folds
    assert cv_fold_datalists(items, n_folds=5, seed=1) != folds
    masses = [sum(1 for i in f["test"] for les in i["lesions"] if les["type"] == "mass") for f in folds]
    assert max(masses) - min(masses) <= 1


def test_fold_of_patient_refuses_a_leak():
    fold = {"training": [], "validation": [], "test": [{"patient_id": "W1"}]}
    with pytest.raises(ValueError, match="W1 is in the test part of folds 0 and 1"):
        fold_of_patient([fold, fold])


@pytest.mark.parametrize(("n_women", "n_folds", "match"), [
    (3, 5, "5 folds need at least 5 women; the datalist holds 3"),
    (2, 2, "too few for 2 folds"),
])
def test_too_few_women(n_women, n_folds, match):
    with pytest.raises(ValueError, match=match):
        cv_fold_datalists(_items(n_women), n_folds=n_folds)


def test_bad_arguments():
    with pytest.raises(ValueError, match="at least 2 folds"):
        cv_fold_datalists(_items(10), n_folds=1)
    with pytest.raises(ValueError, match="val_fraction"):
        cv_fold_datalists(_items(10), n_folds=2, val_fraction=1.0)


def test_class_missing_from_a_fold_is_named():
    items = _items(30)
    items[0]["lesions"] = [{"type": "architectural_distortion", "pathology": "malignant"}]
    folds = cv_fold_datalists(items, n_folds=3, seed=0)

    def class_of(item):
        return item["lesions"][0]["type"] if item["lesions"] else "normal"

    problems = fold_class_problems(folds, class_of, ["normal", "architectural_distortion"])
    # one woman with the class: the two folds that do not test her lack it in test, the fold that does lacks it
    # in training and validation, and each other fold has her on one side of its inner split only
    assert len(problems) == 6 and all("'architectural_distortion'" in p for p in problems)
    assert fold_class_problems(folds, class_of, ["normal"]) == []


def test_pairing_one_partner_only():
    items = [{"image": "a", "patient_id": "w", "laterality": "L", "view": "CC"},
             {"image": "b", "patient_id": "w", "laterality": "R", "view": "CC"},
             {"image": "c", "patient_id": "w", "laterality": "R", "view": "CC"},   # two right CCs: ambiguous
             {"image": "d", "patient_id": "w", "laterality": "R", "view": "MLO"},  # no left MLO
             {"image": "e", "patient_id": "v", "laterality": None, "view": "CC",
              CONTRALATERAL_IMAGE: "stale"}]
    paired, unpaired = add_contralateral_images(items)
    assert [i.get(CONTRALATERAL_IMAGE) for i in paired] == [None, "a", "a", None, None]
    assert unpaired == 3 and items[4][CONTRALATERAL_IMAGE] == "stale"  # inputs untouched


@pytest.mark.shared
def test_real_mias_folds_and_pairs(shared_mias, tmp_path):
    index_mias(shared_mias, tmp_path / "mias.json", progress=False, stratify="lesion_types")
    items = [i for s in SPLITS for i in load_datalist(tmp_path / "mias.json")[s]]
    # every mini-MIAS woman has both breasts: each film names the other one of the same woman
    by_image = {i["image"]: i for i in items}
    for item in items:
        partner = by_image[item[CONTRALATERAL_IMAGE]]
        assert partner["patient_id"] == item["patient_id"] and partner["laterality"] != item["laterality"]
    folds = cv_fold_datalists(items, n_folds=5, seed=0)
    assert len(fold_of_patient(folds)) == 108
    masses = [sum(1 for i in f["test"] for les in i["lesions"] if les["type"] == "mass") for f in folds]
    assert sum(masses) == 40 and max(masses) - min(masses) <= 2
