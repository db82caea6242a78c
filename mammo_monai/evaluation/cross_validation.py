"""Pooled out-of-fold figures of a cross-validation by woman, with thresholds chosen inside the folds.

Each fold's model scores its own ``test`` women (never seen in training) and its own ``validation`` women (part
of the fold's training side). The test predictions of all folds are pooled into one out-of-fold (OOF) set that
covers every woman once and is scored like any test split (:func:`mammo_monai.evaluation.evaluate_classification`,
``evaluate_detection``, ``evaluate_segmentation``: AUC / FROC / Dice with bootstrap CIs by woman).

An operating point is never chosen on the women it is scored on: :func:`fold_thresholds` takes each fold's
threshold from that fold's validation predictions (Youden's J), and :func:`pooled_operating_point` applies fold
``k``'s threshold to fold ``k``'s test items only. The threshold a bundle ships is the median of the fold
thresholds (:func:`shipped_threshold`): every one of them was chosen on training-side women.

Example:
    >>> val = [([0, 0, 1, 1], [0.1, 0.3, 0.4, 0.9]), ([0, 1, 0, 1], [0.2, 0.6, 0.3, 0.7])]
    >>> [t for t, _ in fold_thresholds(val)]
    [0.4, 0.6]
    >>> point = pooled_operating_point(y=[0, 1, 0, 1], scores=[0.5, 0.5, 0.1, 0.9], fold=[0, 0, 1, 1],
    ...                                thresholds=[0.4, 0.6], groups=["a", "a", "b", "c"], n_resamples=50)
    >>> point["sensitivity"]["estimate"], point["specificity"]["estimate"]
    (1.0, 0.5)
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np

from .bootstrap import bootstrap_by_group
from .classification import youden_threshold

__all__ = ["fold_thresholds", "format_cv_markdown", "format_interval", "pooled_operating_point", "shipped_threshold"]


def fold_thresholds(
    validation: Sequence[tuple[Sequence[int], Sequence[float]]],
) -> list[tuple[float | None, dict[str, Any]]]:
    """One threshold per fold from its validation ``(truth 0/1, positive-class score)`` (Youden's J).

    Returns:
        ``(threshold, info)`` per fold (:func:`~mammo_monai.evaluation.classification.youden_threshold`);
        ``(None, {"reason": ...})`` where a fold's validation cannot give one.
    """
    return [youden_threshold(y, s) for y, s in validation]


def shipped_threshold(thresholds: Sequence[float | None]) -> float | None:
    """The operating threshold to ship: the median of the fold thresholds that could be chosen (None if none).

    Example:
        >>> shipped_threshold([0.3, None, 0.5, 0.4])
        0.4
    """
    usable = [float(t) for t in thresholds if t is not None and math.isfinite(float(t))]
    return float(np.median(usable)) if usable else None


def pooled_operating_point(
    y: Sequence[int],
    scores: Sequence[float],
    fold: Sequence[int],
    thresholds: Sequence[float | None],
    groups: Sequence[Hashable],
    n_resamples: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """Sensitivity, specificity and balanced accuracy of the pooled OOF items, each called positive when its
    score reaches the threshold of its own fold, with bootstrap CIs resampling the women (``groups``).

    Args:
        y: truth per item (1 = positive class).
        scores: positive-class score per item.
        fold: the fold whose test part holds the item.
        thresholds: the threshold of each fold (chosen on that fold's validation women); a fold with ``None``
            has its items left out (they are counted in ``n_without_threshold``).
        groups: the woman of each item.
        n_resamples: bootstrap draws.
        seed: bootstrap seed.

    Returns:
        ``{"sensitivity", "specificity", "balanced_accuracy"}`` (each a :func:`bootstrap_by_group` dict),
        ``"n"``, ``"n_without_threshold"``, ``"thresholds"``.

    Raises:
        ValueError: the inputs differ in length, or an item's fold has no threshold entry.
    """
    y_arr = np.asarray(y, dtype=int).ravel()
    s_arr = np.asarray(scores, dtype=float).ravel()
    f_arr = np.asarray(fold, dtype=int).ravel()
    g_arr = np.asarray([str(g) for g in groups])
    if not (y_arr.size == s_arr.size == f_arr.size == g_arr.size):
        raise ValueError(f"y, scores, fold and groups differ in length: {y_arr.size}, {s_arr.size}, "
                         f"{f_arr.size}, {g_arr.size}")
    if f_arr.size and (f_arr.min() < 0 or f_arr.max() >= len(thresholds)):
        raise ValueError(f"fold indices run {f_arr.min()}..{f_arr.max()} but {len(thresholds)} thresholds were given")
    has_threshold = np.array([thresholds[k] is not None for k in f_arr], dtype=bool)
    thr = np.array([thresholds[k] if thresholds[k] is not None else np.nan for k in f_arr], dtype=float)
    keep = np.flatnonzero(has_threshold)
    called = s_arr[keep] >= thr[keep]
    truth = y_arr[keep]

    def sensitivity(idx: np.ndarray) -> float:
        pos = truth[idx] == 1
        return float(called[idx][pos].mean()) if pos.any() else float("nan")

    def specificity(idx: np.ndarray) -> float:
        neg = truth[idx] == 0
        return float((~called[idx][neg]).mean()) if neg.any() else float("nan")

    def balanced_accuracy(idx: np.ndarray) -> float:
        return 0.5 * (sensitivity(idx) + specificity(idx))

    out: dict[str, Any] = {}
    for name, fn in (("sensitivity", sensitivity), ("specificity", specificity),
                     ("balanced_accuracy", balanced_accuracy)):
        out[name] = bootstrap_by_group(fn, g_arr[keep], n_resamples=n_resamples, seed=seed)
    out.update(n=int(keep.size), n_without_threshold=int(y_arr.size - keep.size),
               thresholds=[None if t is None else float(t) for t in thresholds])
    return out


def format_interval(entry: Mapping[str, Any] | None) -> str:
    """``"0.421 [0.304, 0.546]"`` from ``{"estimate", "low", "high"}`` or an evaluator's ``{"estimate", "ci"}``;
    the estimate alone when there is no finite interval, ``"n/a"`` when there is no finite estimate.

    Example:
        >>> format_interval({"estimate": 0.5, "ci": [0.25, 0.75]}), format_interval({"estimate": None})
        ('0.500 [0.250, 0.750]', 'n/a')
    """
    if not isinstance(entry, Mapping) or entry.get("estimate") is None or not math.isfinite(float(entry["estimate"])):
        return "n/a"
    low, high = entry.get("low"), entry.get("high")
    if "ci" in entry:
        low, high, *_ = [*(entry.get("ci") or []), None, None]
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
        return f"{entry['estimate']:.3f}"
    return f"{entry['estimate']:.3f} [{low:.3f}, {high:.3f}]"


def format_cv_markdown(report: Mapping[str, Any]) -> str:
    """The markdown page of a cross-validation report (the dict written as ``cv_report.json``).

    Example:
        >>> page = format_cv_markdown({"bundle": "b", "kind": "classification", "n_folds": 2, "n_women": 4,
        ...     "headline": {"auc": {"estimate": 0.8, "low": 0.6, "high": 0.95}}, "folds": []})
        >>> "| auc | 0.800 [0.600, 0.950] |" in page
        True
    """
    lines = [f"# Cross-validation of `{report.get('bundle')}` ({report.get('kind')})", "",
             f"{report.get('n_folds')} folds by woman, {report.get('n_women')} women, "
             f"{report.get('n_items', '?')} items; pooled out-of-fold figures, 95% bootstrap CIs resampling women.",
             ""]
    if report.get("command"):
        lines += ["Reproduce:", "", "```bash", str(report["command"]), "```", ""]
    lines += ["| figure | pooled OOF |", "|---|---|"]
    for name, entry in (report.get("headline") or {}).items():
        lines.append(f"| {name} | {format_interval(entry) if isinstance(entry, Mapping) else entry} |")
    folds = report.get("folds") or []
    if folds:
        keys = sorted({k for f in folds for k in f if k not in ("fold",)})
        lines += ["", "| fold | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
        for f in folds:
            cells = []
            for k in keys:
                v = f.get(k)
                cells.append(f"{v:.3f}" if isinstance(v, float) else str(v))
            lines.append(f"| {f.get('fold')} | " + " | ".join(cells) + " |")
    if report.get("notes"):
        lines += ["", *[f"- {n}" for n in report["notes"]]]
    return "\n".join(lines) + "\n"
