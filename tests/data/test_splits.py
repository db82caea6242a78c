"""Patient-level stratified splits: no woman on two sides, proportions, determinism."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from mammo_monai.data.splits import assert_patient_disjoint, patient_overlaps, split_by_patient


def _items(n_patients: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    items = []
    for p in range(n_patients):
        pathology = rng.choices(["normal", "benign", "malignant"], weights=[6, 3, 1])[0]
        for view in range(rng.randint(1, 4)):
            items.append({"patient_id": f"P{p:04d}", "view": view,
                          "pathology": pathology if view == 0 else rng.choice(["normal", pathology])})
    return items


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_no_patient_on_two_sides_and_proportions(seed):
    items = _items(500, seed)
    fractions = {"training": 0.7, "validation": 0.1, "test": 0.2}
    parts = split_by_patient(items, fractions, seed=seed)
    assert patient_overlaps(parts) == {}
    assert_patient_disjoint(parts)
    assert sum(len(v) for v in parts.values()) == len(items)
    patients = {k: {i["patient_id"] for i in v} for k, v in parts.items()}
    for name, fraction in fractions.items():
        assert abs(len(patients[name]) - 500 * fraction) <= 1  # exact to one patient
    # stratified on the woman's worst pathology: each split holds its share of malignant women
    worst = {}
    for item in items:
        order = ["normal", "benign", "malignant"]
        worst[item["patient_id"]] = max(worst.get(item["patient_id"], "normal"), item["pathology"], key=order.index)
    n_malignant = Counter(worst.values())["malignant"]
    for name, fraction in fractions.items():
        got = sum(worst[p] == "malignant" for p in patients[name])
        assert abs(got - n_malignant * fraction) <= 1.5


def test_deterministic_and_seed_dependent():
    items = _items(200)
    a = split_by_patient(items, {"training": 0.8, "test": 0.2}, seed=3)
    b = split_by_patient(list(items), {"training": 0.8, "test": 0.2}, seed=3)
    c = split_by_patient(items, {"training": 0.8, "test": 0.2}, seed=4)
    assert a == b and a != c


def test_small_data_still_fills_every_split():
    items = _items(10)
    parts = split_by_patient(items, {"training": 0.8, "validation": 0.1, "test": 0.1})
    assert all(parts.values())
    three = split_by_patient(_items(3), {"training": 0.9, "validation": 0.1})
    assert {k: len({i["patient_id"] for i in v}) for k, v in three.items()} == {"training": 2, "validation": 1}
    one = split_by_patient(_items(1), {"training": 0.9, "validation": 0.1})
    assert not one["validation"] and patient_overlaps(one) == {}
    assert split_by_patient(_items(4), {"training": 1.0, "test": 0.0})["test"] == []


def test_overlap_detection():
    datalist = {"training": [{"patient_id": "A"}, {"patient_id": "B"}], "test": [{"patient_id": "B"}]}
    assert patient_overlaps(datalist) == {"B": ["test", "training"]}
    with pytest.raises(ValueError, match="1 patient"):
        assert_patient_disjoint(datalist)


def test_bad_arguments():
    with pytest.raises(ValueError, match="fractions"):
        split_by_patient(_items(3), {"training": -1})
    with pytest.raises(ValueError, match="patient_id"):
        split_by_patient([{"image": "x.dcm"}], {"training": 1})


def test_lesion_type_strata_spread_a_rare_lesion_type():
    """Stratified by pathology alone, the few women with a mass can all land on one side; with LESION_TYPES
    each split gets its share of them."""
    from mammo_monai.data.splits import LESION_TYPES

    items = []
    for p in range(60):
        kind = "mass" if p % 6 == 0 else "calcification"  # 10 women with a mass, all malignant like the others
        items.append({"patient_id": f"P{p:03d}", "pathology": "malignant",
                      "lesions": [{"type": kind, "pathology": "malignant"}]})
    parts = split_by_patient(items, {"training": 0.6, "validation": 0.2, "test": 0.2}, seed=0,
                             stratify_key=LESION_TYPES)
    masses = {name: sum(i["lesions"][0]["type"] == "mass" for i in part) for name, part in parts.items()}
    assert masses == {"training": 6, "validation": 2, "test": 2}
    assert_patient_disjoint(parts)
