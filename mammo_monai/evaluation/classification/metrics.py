"""Classification metric functions, pure (arrays in, numbers out): Youden's threshold, calibration bins,
confusion matrices and :func:`classification_metrics` (AUC, balanced accuracy, per-class figures, operating
points, ECE)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.metrics import auc as area_under_curve
from sklearn.metrics import average_precision_score, roc_curve


def youden_threshold(y_true: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray
                     ) -> tuple[float | None, dict[str, Any]]:
    """The threshold maximising Youden's J (sensitivity + specificity - 1) on a ROC (validation predictions).

    ``score >= threshold`` is positive; the threshold is one of the scores. Ties in J go to the higher
    threshold (the more specific point).

    Returns:
        ``(threshold, info)``: ``info`` holds ``youden_j``, ``sensitivity``, ``specificity``, ``n``,
        ``n_positive``; ``(None, {"reason": ...})`` when no threshold can be chosen (no item, one class
        only, or no threshold better than chance).

    Example:
        >>> t, info = youden_threshold([0, 0, 1, 1], [0.1, 0.3, 0.35, 0.8])
        >>> t, info["youden_j"]
        (0.35, 1.0)
        >>> youden_threshold([1, 1], [0.2, 0.9])[1]["reason"]
        'the validation predictions hold one class only'
    """
    y = np.asarray(y_true, dtype=int).ravel()
    s = np.asarray(scores, dtype=float).ravel()
    if y.size == 0:
        return None, {"reason": "no usable validation prediction"}
    if np.unique(y).size < 2:
        return None, {"reason": "the validation predictions hold one class only"}
    fpr, tpr, thresholds = roc_curve(y, s, drop_intermediate=False)
    j = tpr - fpr
    best = int(np.argmax(j))
    if j[best] <= 0 or not math.isfinite(float(thresholds[best])):
        return None, {"reason": "no threshold on the validation predictions beats chance (Youden's J <= 0)"}
    return float(thresholds[best]), {"youden_j": float(j[best]), "sensitivity": float(tpr[best]),
                                     "specificity": float(1.0 - fpr[best]), "n": int(y.size),
                                     "n_positive": int(y.sum())}



def calibration_bins(confidence: Sequence[float] | np.ndarray, correct: Sequence[float] | np.ndarray,
                     n_bins: int = 10) -> dict[str, np.ndarray]:
    """Equal-width reliability bins: ``(low, high]`` (the first one includes 0), as MONAI's
    :func:`~monai.metrics.calibration_binning`.

    Returns:
        ``{"edges", "count", "mean_confidence", "observed", "ece"}``: ``n_bins + 1`` edges, per-bin counts,
        mean confidence and observed frequency (NaN in empty bins), and the expected calibration error
        ``sum(count / n * |observed - mean_confidence|)`` (NaN without items).

    Example:
        >>> b = calibration_bins([0.05, 0.15, 0.95, 0.85], [0, 1, 1, 1], n_bins=2)
        >>> b["count"].tolist(), b["observed"].tolist(), round(float(b["ece"]), 3)
        ([2, 2], [0.5, 1.0], 0.25)
    """
    if int(n_bins) < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    conf = np.asarray(confidence, dtype=float).ravel()
    hit = np.asarray(correct, dtype=float).ravel()
    edges = np.linspace(0.0, 1.0, int(n_bins) + 1)
    index = np.clip(np.searchsorted(edges[1:-1], conf, side="left"), 0, int(n_bins) - 1)
    count = np.bincount(index, minlength=int(n_bins))
    sum_conf = np.bincount(index, weights=conf, minlength=int(n_bins))
    sum_hit = np.bincount(index, weights=hit, minlength=int(n_bins))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.where(count > 0, sum_conf / count, np.nan)
        observed = np.where(count > 0, sum_hit / count, np.nan)
    ece = float(np.abs(sum_hit - sum_conf).sum() / conf.size) if conf.size else float("nan")
    return {"edges": edges, "count": count, "mean_confidence": mean_conf, "observed": observed,
            "ece": np.float64(ece)}



def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num, den = np.asarray(num, float), np.asarray(den, float)
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out



def _confusion(y: np.ndarray, pred: np.ndarray, k: int) -> np.ndarray:
    """Counts, rows = truth, columns = prediction."""
    return np.bincount(y * k + pred, minlength=k * k).reshape(k, k)



def _rates(cm: np.ndarray) -> dict[str, np.ndarray]:
    """Per class one-vs-rest precision, recall, specificity, F1 (NaN on a zero denominator)."""
    tp = np.diag(cm).astype(float)
    fp, fn = cm.sum(axis=0) - tp, cm.sum(axis=1) - tp
    tn = cm.sum() - tp - fp - fn
    return {"precision": _ratio(tp, tp + fp), "recall": _ratio(tp, tp + fn), "specificity": _ratio(tn, tn + fp),
            "f1": _ratio(2 * tp, 2 * tp + fp + fn)}



def classification_metrics(
    y_true: Sequence[int] | np.ndarray,
    probs: np.ndarray,
    classes: Sequence[str],
    threshold: float | None = None,
    fixed_sensitivities: Sequence[float] = (),
    n_bins: int = 10,
) -> dict[str, float]:
    """Every metric of one set of items (the point estimate, and what each bootstrap resample computes).

    Args:
        y_true: class index per item.
        probs: ``(n_items, n_classes)`` probabilities.
        classes: the class names (keys of the result).
        threshold: binary only: the positive-probability threshold of the ``threshold/*`` metrics.
        fixed_sensitivities: binary only: sensitivities to read the specificity at.
        n_bins: calibration bins.

    Returns:
        a flat ``{"group/name": value}`` dict: ``auc/macro``, ``auc/<class>`` and ``average_precision/<class>``
        (one-vs-rest, sklearn ``roc_curve``/``auc`` and ``average_precision_score``), ``accuracy``,
        ``balanced_accuracy``, ``precision|recall|specificity|f1/<class>`` (argmax), ``ece``; binary adds
        ``threshold/{sensitivity, specificity, precision, npv, f1, accuracy, balanced_accuracy}`` (when
        ``threshold`` is given) and ``specificity_at_sensitivity/<s>``, ``threshold_at_sensitivity/<s>``,
        ``sensitivity_reached/<s>`` (``<s>`` formatted with ``g``: ``0.9``).
    """
    y = np.asarray(y_true, dtype=int).ravel()
    p = np.asarray(probs, dtype=float).reshape(len(y), len(classes))
    k = len(classes)
    binary = k == 2
    out: dict[str, float] = {}
    per_class_auc = []
    pos_roc = None
    for c, name in enumerate(classes):
        truth = y == c
        n_pos = int(truth.sum())
        value = ap = float("nan")
        if 0 < n_pos < y.size and not (binary and c == 0):
            fpr, tpr, thr = roc_curve(truth, p[:, c], drop_intermediate=False)
            value = float(area_under_curve(fpr, tpr))
            if binary:
                pos_roc = (fpr, tpr, thr)
        if 0 < n_pos:
            ap = float(average_precision_score(truth, p[:, c]))
        per_class_auc.append(value)
        out[f"auc/{name}"] = value
        out[f"average_precision/{name}"] = ap
    if binary:  # class 0's one-vs-rest ROC mirrors class 1's: the same AUC
        out[f"auc/{classes[0]}"] = per_class_auc[0] = out[f"auc/{classes[1]}"]
    out["auc/macro"] = float(np.mean(per_class_auc)) if all(math.isfinite(a) for a in per_class_auc) else float("nan")

    pred = p.argmax(axis=1) if y.size else np.zeros(0, int)
    cm = _confusion(y, pred, k)
    rates = _rates(cm)
    out["accuracy"] = float(np.trace(cm) / y.size) if y.size else float("nan")
    recall = rates["recall"]
    out["balanced_accuracy"] = float(recall.mean()) if np.isfinite(recall).all() else float("nan")
    for metric, values in rates.items():
        for name, value in zip(classes, values):
            out[f"{metric}/{name}"] = float(value)

    if binary and threshold is not None:
        cm_t = _confusion(y, (p[:, 1] >= threshold).astype(int), 2)
        r = _rates(cm_t)
        out.update({
            "threshold/sensitivity": float(r["recall"][1]), "threshold/specificity": float(r["recall"][0]),
            "threshold/precision": float(r["precision"][1]), "threshold/npv": float(r["precision"][0]),
            "threshold/f1": float(r["f1"][1]),
            "threshold/accuracy": float(np.trace(cm_t) / y.size) if y.size else float("nan"),
            "threshold/balanced_accuracy": float(r["recall"].mean()) if np.isfinite(r["recall"]).all()
            else float("nan"),
        })
    if binary:
        for s in fixed_sensitivities:
            key = f"{float(s):g}"
            spec = thr_s = reached = float("nan")
            if pos_roc is not None:
                fpr, tpr, thr = pos_roc
                i = int(np.argmax(tpr >= float(s) - 1e-12))
                spec, thr_s, reached = float(1.0 - fpr[i]), float(thr[i]), float(tpr[i])
            out[f"specificity_at_sensitivity/{key}"] = spec
            out[f"threshold_at_sensitivity/{key}"] = thr_s
            out[f"sensitivity_reached/{key}"] = reached

    if binary:
        conf, hit = p[:, 1], (y == 1)
    else:
        conf, hit = (p.max(axis=1) if y.size else np.zeros(0)), (pred == y)
    out["ece"] = float(calibration_bins(conf, hit, n_bins)["ece"])
    return out



def _nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        group, _, name = key.partition("/")
        if name:
            nested.setdefault(group, {})[name] = value
        else:
            nested[group] = value
    return nested
