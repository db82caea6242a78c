"""Patient-level, stratified, seeded splits: never a woman on both sides of a split.

scikit-learn's ``StratifiedGroupKFold`` does patient-grouped stratification for k equal folds, not
for arbitrary fractions such as 80/10/10, and can leave a split empty on small data. So the assignment
here is written by hand (and kept short): patients are grouped by stratum (their worst pathology),
shuffled within the stratum with the seed, then dealt one by one to the split that lags furthest
behind its share. Each stratum is therefore spread over the splits in proportion and the split sizes
in patients are exact to within one. On small data, a split with a non-zero fraction that would stay
empty (10 patients, 5% validation) gets one patient from the largest split, so a validation or test
split asked for is never silently empty while there are enough women to fill it.

Example:
    >>> items = [{"patient_id": f"P{i // 2}", "pathology": "benign" if i % 4 else "malignant"}
    ...          for i in range(40)]
    >>> parts = split_by_patient(items, {"training": 0.8, "validation": 0.2}, seed=0)
    >>> {k: len(v) for k, v in parts.items()}
    {'training': 32, 'validation': 8}
    >>> patient_overlaps(parts)
    {}
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from .schema import LESIONS, PATHOLOGIES, PATHOLOGY, PATIENT_ID

__all__ = ["LESION_TYPES", "assert_patient_disjoint", "patient_overlaps", "split_by_patient"]


#: ``split_by_patient(stratify_key=LESION_TYPES)``: stratify by the worst pathology and the lesion types
LESION_TYPES = "pathology+lesion_types"


def _stratum(items: Sequence[Mapping[str, Any]], key: str | None) -> str:
    if key is None:
        return ""
    if key == LESION_TYPES:  # e.g. "malignant|calcification,mass": mass women spread like the others
        types = sorted({str(les.get("type")) for item in items for les in item.get(LESIONS) or []})
        return f"{_stratum(items, PATHOLOGY)}|{','.join(types)}"
    values = {str(item.get(key)) for item in items}
    if key == PATHOLOGY and values <= set(PATHOLOGIES):
        return max(values, key=PATHOLOGIES.index)  # a woman with any malignant image is "malignant"
    return "|".join(sorted(values))


def split_by_patient(
    items: Sequence[Mapping[str, Any]],
    fractions: Mapping[str, float],
    seed: int = 0,
    stratify_key: str | None = PATHOLOGY,
    patient_key: str = PATIENT_ID,
) -> dict[str, list[Mapping[str, Any]]]:
    """Split datalist ``items`` into named parts by patient, stratified by ``stratify_key``.

    Args:
        items: datalist items; each must have ``patient_key``.
        fractions: split name -> fraction of patients (normalised to sum to 1; zero allowed).
        seed: shuffling seed; the same items and seed give the same split.
        stratify_key: item key to stratify on (default: pathology, worst per patient); ``LESION_TYPES``
            (``"pathology+lesion_types"``): the worst pathology and the set of lesion types of the woman, so
            that e.g. the few women with a mass are spread over the splits too; None for none.
        patient_key: item key identifying the woman.

    Returns:
        split name -> items, in the order of ``fractions``; items keep their input order within a split.

    Raises:
        ValueError: a fraction is negative, all are zero, or an item has no patient id.
    """
    if not fractions or any(f < 0 for f in fractions.values()) or sum(fractions.values()) <= 0:
        raise ValueError(f"fractions must be non-negative and not all zero, got {dict(fractions)}")
    total = float(sum(fractions.values()))
    shares = {name: f / total for name, f in fractions.items()}

    by_patient: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for index, item in enumerate(items):
        patient = item.get(patient_key)
        if patient in (None, ""):
            raise ValueError(f"item {index} ({item.get('image')}) has no {patient_key!r}")
        by_patient[str(patient)].append(item)

    by_stratum: dict[str, list[str]] = defaultdict(list)
    for patient in sorted(by_patient):
        by_stratum[_stratum(by_patient[patient], stratify_key)].append(patient)

    rng = random.Random(seed)
    assigned = dict.fromkeys(shares, 0)
    patient_split: dict[str, str] = {}
    dealt = 0
    for stratum in sorted(by_stratum):
        patients = by_stratum[stratum]
        rng.shuffle(patients)
        for patient in patients:
            dealt += 1
            # the split furthest behind its share after this patient; ties go to the first-named split
            name = max(shares, key=lambda s: shares[s] * dealt - assigned[s])
            assigned[name] += 1
            patient_split[patient] = name

    for name in shares:  # small data: never leave a requested split empty if another can spare a woman
        if shares[name] > 0 and assigned[name] == 0:
            donor = max(shares, key=lambda s: assigned[s])
            if assigned[donor] > 1:
                moved = next(p for p in reversed(list(patient_split)) if patient_split[p] == donor)
                patient_split[moved] = name
                assigned[donor] -= 1
                assigned[name] += 1

    parts: dict[str, list[Mapping[str, Any]]] = {name: [] for name in shares}
    for item in items:
        parts[patient_split[str(item[patient_key])]].append(item)
    return parts


def patient_overlaps(
    datalist: Mapping[str, Sequence[Mapping[str, Any]]], patient_key: str = PATIENT_ID
) -> dict[str, list[str]]:
    """Patients found in more than one split: ``{patient: [splits...]}`` (empty when the splits are clean)."""
    seen: dict[str, set[str]] = defaultdict(set)
    for split, items in datalist.items():
        for item in items:
            seen[str(item.get(patient_key))].add(split)
    return {patient: sorted(splits) for patient, splits in sorted(seen.items()) if len(splits) > 1}


def assert_patient_disjoint(
    datalist: Mapping[str, Sequence[Mapping[str, Any]]], patient_key: str = PATIENT_ID
) -> None:
    """Raise ``ValueError`` listing the patients that are on more than one side of a split."""
    overlaps = patient_overlaps(datalist, patient_key)
    if overlaps:
        shown = ", ".join(f"{p} in {s}" for p, s in list(overlaps.items())[:10])
        raise ValueError(f"{len(overlaps)} patient(s) on more than one side of the split: {shown}")
