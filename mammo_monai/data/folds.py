"""Cross-validation folds by woman: k test folds, each with its own training/validation split of the other women.

A fold's datalist is an ordinary MONAI datalist (``training`` / ``validation`` / ``test``), so a bundle's own
``train.json`` and ``inference.json`` run on it unchanged: the test part is fold ``k``'s women, the training
and validation parts are the remaining women, split by woman again (validation = the inner split that early
stopping, checkpoint choice and every threshold are taken from). No woman is in two test folds, and no woman
is on two sides of any fold's split.

The women are dealt to the folds by :func:`mammo_monai.data.splits.split_by_patient` with equal shares, so each
stratum (by default the worst pathology and the lesion types of the woman) is spread over the folds in
proportion; the inner validation split is stratified the same way.

Example:
    >>> items = [{"image": f"{i}.png", "patient_id": f"P{i // 2}", "pathology": "normal", "lesions": []}
    ...          for i in range(20)]
    >>> folds = cv_fold_datalists(items, n_folds=5, val_fraction=0.25, seed=0)
    >>> [len(f["test"]) for f in folds]
    [4, 4, 4, 4, 4]
    >>> [(len(f["training"]), len(f["validation"])) for f in folds][0]
    (12, 4)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .schema import PATIENT_ID
from .splits import LESION_TYPES, assert_patient_disjoint, split_by_patient

__all__ = ["FOLD_SPLITS", "cv_fold_datalists", "ensemble_member_datalists", "fold_class_problems", "fold_of_patient",
           "out_of_fold_datalist"]

#: the datalist splits a fold holds
FOLD_SPLITS = ("training", "validation", "test")


def cv_fold_datalists(
    items: Sequence[Mapping[str, Any]],
    n_folds: int = 5,
    val_fraction: float = 0.2,
    seed: int = 0,
    stratify_key: str | None = LESION_TYPES,
    patient_key: str = PATIENT_ID,
) -> list[dict[str, list[Mapping[str, Any]]]]:
    """``n_folds`` datalists over ``items``: fold ``k``'s women are its ``test``; the others are split by woman
    into ``training`` and ``validation`` (``val_fraction`` of them).

    Args:
        items: every datalist item to cross-validate (all splits of an index pooled); each has ``patient_key``.
        n_folds: the number of folds (>= 2).
        val_fraction: the share of each fold's training women kept for validation (0 < f < 1).
        seed: the seed of both the fold assignment and the inner splits (the inner split of fold ``k`` uses
            ``seed + 1 + k``).
        stratify_key: what the women are stratified by (see :func:`~mammo_monai.data.splits.split_by_patient`).
        patient_key: the item key naming the woman.

    Returns:
        one ``{"training": [...], "validation": [...], "test": [...]}`` per fold, items in input order.

    Raises:
        ValueError: fewer than 2 folds, a ``val_fraction`` outside (0, 1), an item without a patient, or fewer
            women than folds (or too few women left to give every fold a training and a validation woman).
    """
    if int(n_folds) < 2:
        raise ValueError(f"cross-validation needs at least 2 folds, got n_folds={n_folds}")
    if not 0.0 < float(val_fraction) < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    women = {str(item.get(patient_key)) for item in items if item.get(patient_key) not in (None, "")}
    if len(women) < n_folds:
        raise ValueError(f"{n_folds} folds need at least {n_folds} women; the datalist holds {len(women)} "
                         f"({len(items)} items)")
    if len(women) - -(-len(women) // n_folds) < 2:  # the largest test fold leaves a training + validation woman
        raise ValueError(f"{len(women)} women are too few for {n_folds} folds: each fold needs at least one "
                         "training and one validation woman besides its test women")
    names = [f"fold_{k}" for k in range(n_folds)]
    parts = split_by_patient(items, dict.fromkeys(names, 1.0), seed=seed, stratify_key=stratify_key,
                             patient_key=patient_key)
    folds = []
    for k, name in enumerate(names):
        rest = [item for other in names if other != name for item in parts[other]]
        inner = split_by_patient(rest, {"training": 1.0 - val_fraction, "validation": val_fraction},
                                 seed=seed + 1 + k, stratify_key=stratify_key, patient_key=patient_key)
        fold = {"training": inner["training"], "validation": inner["validation"], "test": list(parts[name])}
        assert_patient_disjoint(fold, patient_key)
        folds.append(fold)
    return folds


def fold_of_patient(folds: Sequence[Mapping[str, Sequence[Mapping[str, Any]]]],
                    patient_key: str = PATIENT_ID) -> dict[str, int]:
    """``{woman: the fold whose test part holds her}``.

    Raises:
        ValueError: a woman in the test part of two folds (the folds would leak).
    """
    owner: dict[str, int] = {}
    for k, fold in enumerate(folds):
        for item in fold["test"]:
            patient = str(item.get(patient_key))
            if owner.get(patient, k) != k:
                raise ValueError(f"woman {patient} is in the test part of folds {owner[patient]} and {k}")
            owner[patient] = k
    return owner


def ensemble_member_datalists(folds: Sequence[Mapping[str, Sequence[Mapping[str, Any]]]],
                              k: int) -> list[tuple[int, dict[str, list[Mapping[str, Any]]]]]:
    """The members of fold ``k``'s fold ensemble (nested cross-validation): one datalist per other fold ``j``,
    trained on the women of the folds other than ``k`` and ``j``, validated on fold ``j``'s women (early stopping,
    and its out-of-fold scores of fold ``k``'s training women, where a threshold is chosen), tested on fold ``k``'s.

    No member sees a woman of fold ``k`` in training or validation, so the members' mean on fold ``k`` is as
    out-of-fold as a single fold model; the members' validation parts cover fold ``k``'s training women once each.

    Example:
        >>> folds = [{"training": [], "validation": [], "test": [{"patient_id": str(k)}]} for k in range(3)]
        >>> [(j, [len(d[s]) for s in FOLD_SPLITS]) for j, d in ensemble_member_datalists(folds, 0)]
        [(1, [1, 1, 1]), (2, [1, 1, 1])]

    Raises:
        ValueError: ``k`` is not a fold, or fewer than 3 folds (a member needs a training and a validation fold).
    """
    if not 0 <= k < len(folds):
        raise ValueError(f"fold {k} is not one of the {len(folds)} folds")
    if len(folds) < 3:
        raise ValueError(f"a fold ensemble needs at least 3 folds, got {len(folds)}")
    tests = [list(fold["test"]) for fold in folds]
    members = []
    for j in range(len(folds)):
        if j != k:
            training = [item for i, part in enumerate(tests) if i not in (k, j) for item in part]
            member = {"training": training, "validation": tests[j], "test": tests[k]}
            assert_patient_disjoint(member, PATIENT_ID)
            members.append((j, member))
    return members


def out_of_fold_datalist(folds: Sequence[Mapping[str, Sequence[Mapping[str, Any]]]]) -> dict[str, list[Any]]:
    """The datalist the pooled out-of-fold predictions are scored against: every fold's ``test`` items, in fold
    order, as one ``test`` split (``training`` and ``validation`` empty)."""
    return {"training": [], "validation": [], "test": [item for fold in folds for item in fold["test"]]}


def fold_class_problems(
    folds: Sequence[Mapping[str, Sequence[Mapping[str, Any]]]],
    class_of: Callable[[Mapping[str, Any]], str | None],
    classes: Sequence[str],
    splits: Sequence[str] = FOLD_SPLITS,
) -> list[str]:
    """What would make a fold unusable: a class with no example in one of its ``splits``.

    Args:
        folds: from :func:`cv_fold_datalists`.
        class_of: an item's class (None: the item does not count, e.g. an image without the task's label).
        classes: the classes every split must hold.
        splits: the splits checked (training to learn the class, validation to choose a threshold, test to
            score it).

    Returns:
        one message per missing class and split (``"fold 2 validation: no 'malignant' item (of 9 labelled)"``),
        empty when every fold can be trained, thresholded and scored.

    Example:
        >>> folds = [{"training": [{"y": "a"}, {"y": "b"}], "validation": [{"y": "a"}], "test": [{"y": "b"}]}]
        >>> fold_class_problems(folds, lambda i: i["y"], ["a", "b"])
        ["fold 0 validation: no 'b' item (of 1 labelled)", "fold 0 test: no 'a' item (of 1 labelled)"]
    """
    problems = []
    for k, fold in enumerate(folds):
        for split in splits:
            counts = Counter(c for c in map(class_of, fold[split]) if c is not None)
            for cls in classes:
                if counts[cls] == 0:
                    problems.append(f"fold {k} {split}: no {cls!r} item (of {sum(counts.values())} labelled)")
    return problems
