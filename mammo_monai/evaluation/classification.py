"""Classification evaluation: ROC/PR, balanced accuracy, per-class metrics, operating points and calibration,
every headline figure with a patient-level bootstrap 95% CI.

``evaluate_classification(pred, label, out, task)`` matches a predictions file to the items of a datalist
split (image level, or lesion level expanded with :func:`~mammo_monai.data.lesion_items.lesion_items`),
takes the truth from :mod:`mammo_monai.data.labels` (the definition the classification bundles train on),
and writes :data:`REPORT_FILES` into ``out``.

Prediction file (what the bundles' inference writes), CSV or JSON, one row per scored item:

=====================  ==========================================================================
column / key           value
=====================  ==========================================================================
``image``              the image path as written in the datalist (a relative path is taken from the
                       datalist's folder, else from the prediction file's folder)
``lesion_index``       lesion-level tasks only: the lesion's index in the image's ``lesions`` list;
                       empty (CSV) or ``null`` (JSON) for a normal-tissue item (``include_normal``)
``prob_<class>``       one probability per class of the task (:attr:`LabelSet.classes
                       <mammo_monai.data.labels.LabelSet.classes>`); multi-class rows must sum to 1
                       (within :data:`SUM_TOLERANCE`); a binary task may give only ``prob_<positive>``
=====================  ==========================================================================

A CSV has a header line; a JSON file is a list of row objects with the same keys, e.g.
``[{"image": "mdb001.png", "prob_normal": 0.3, "prob_abnormal": 0.7}]``. Other columns (a patient id,
logits) are ignored; an unknown ``prob_*`` column, a missing class column or a missing ``image`` (or, at
lesion level, ``lesion_index``) column is an error naming the file.

Operating points:

- multi-class: the argmax (ties go to the first class); per class one-vs-rest at the argmax.
- binary: the argmax block as well, and a threshold on the positive probability (``p >= threshold`` is
  positive) chosen on the *validation* predictions ``val_pred`` by Youden's J (:func:`youden_threshold`),
  else 0.5 and the report says so; the evaluated split never chooses its own threshold. Specificity at
  each of ``fixed_sensitivities`` is read on the evaluated split's ROC (the first threshold reaching the
  sensitivity), the usual "specificity at 90% sensitivity".

Conventions: a metric whose denominator is zero (precision of a class never predicted, AUC with one class
absent) is NaN, written ``null``; a bootstrap resample giving NaN is counted in ``n_invalid`` and left out
of the CI. Macro AUC and balanced accuracy are NaN when a class is absent from the items (the
per-class values stay). ECE uses ``n_bins`` equal-width ``(low, high]`` bins (the first includes 0, as
:func:`monai.metrics.calibration_binning`), binary on the positive probability, multi-class on the
top-class confidence against argmax correctness.

Bad input is reported (``classification_problems.csv`` and the JSON, the row as ``file:line`` for a CSV,
``file#[index]`` for JSON) and the rest is evaluated: ``unmatched_prediction``, ``duplicate_prediction``,
``bad_probability``, ``bad_lesion_index``, ``missing_image_path``, ``missing_prediction``,
``duplicate_item``, ``missing_patient_id`` (the item is its own patient in the bootstrap). Items the task
has no class for (e.g. MIAS architectural distortion in ``type_pathology``) are skipped and counted by
reason.

Example:
    >>> y = np.array([0, 0, 1, 1]); p = np.array([0.1, 0.6, 0.4, 0.9])
    >>> m = classification_metrics(y, np.stack([1 - p, p], axis=1), ["benign", "malignant"], threshold=0.5,
    ...                            fixed_sensitivities=(1.0,))
    >>> m["auc/macro"], m["threshold/sensitivity"], m["specificity_at_sensitivity/1"]
    (0.75, 0.5, 0.5)
    >>> r = evaluate_classification("preds.csv", "datalist.json", "report/", "malignant",
    ...                             val_pred="val_preds.csv")  # doctest: +SKIP
    >>> r.summary["metrics"]["auc"]["macro"]  # doctest: +SKIP
    {'estimate': 0.87, 'ci': [0.8, 0.93], 'n_invalid': 0}
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from monai import __version__ as monai_version
from sklearn import __version__ as sklearn_version
from sklearn.metrics import auc as area_under_curve
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_curve

from .. import __version__
from ..data.labels import LESION_LEVEL, LabelSet, label_set
from ..data.problems import ProblemLog
from ..data.schema import IMAGE, PATIENT_ID, SPLITS, ensure_outside_inputs, ensure_writable, load_datalist
from .bootstrap import SharedResamples, bootstrap_by_group
from .inputs import resolve_datalist_path
from .plots import COLOURS, Axes
from .report import write_csv, write_json

__all__ = [
    "DEFAULT_THRESHOLD",
    "LESION_INDEX",
    "PROB_PREFIX",
    "REPORT_FILES",
    "SUM_TOLERANCE",
    "ClassificationReport",
    "PredictionRow",
    "calibration_bins",
    "classification_metrics",
    "evaluate_classification",
    "format_classification_summary",
    "read_predictions",
    "youden_threshold",
]

PROB_PREFIX = "prob_"
LESION_INDEX = "lesion_index"
#: how far a multi-class row's probabilities may sum from 1
SUM_TOLERANCE = 1e-3
#: the binary threshold without validation predictions (the argmax, up to ties)
DEFAULT_THRESHOLD = 0.5
REPORT_FILES = {
    "metrics": "classification_metrics.json",
    "per_item": "per_item.csv",
    "confusion_matrix": "confusion_matrix.csv",
    "problems": "classification_problems.csv",
    "roc": "roc.png",
    "pr": "pr.png",
    "reliability": "reliability.png",
}
_CONFIDENCE = 0.95
_MAX_LISTED_PROBLEMS = 100


@dataclass
class PredictionRow:
    """One row of a prediction file, as read by :func:`read_predictions`.

    Attributes:
        source: where it is: ``file:line`` (CSV, the header is line 1) or ``file#[index]`` (JSON).
        image: the ``image`` value as written (``None`` when missing).
        lesion_index: the lesion index (lesion-level tasks; ``None``: a normal-tissue row or image level).
        probs: one probability per class (``None`` when unusable, see ``kind``/``error``).
        kind: ``None``, or the problem kind of an unusable row (``bad_probability``, ``bad_lesion_index``,
            ``missing_image_path``).
        error: what is wrong with the row.
    """

    source: str
    image: str | None
    lesion_index: int | None = None
    probs: np.ndarray | None = None
    kind: str | None = None
    error: str | None = None


@dataclass
class ClassificationReport:
    """What :func:`evaluate_classification` computed and wrote.

    Attributes:
        rows: one dict per item of the split (the ``per_item.csv`` rows; ``status`` ``"ok"``, ``"skipped"``
            or the problem kind).
        summary: the content of ``classification_metrics.json``.
        problems: every problem met (also in ``classification_problems.csv``).
        paths: :data:`REPORT_FILES` key -> file written.
    """

    rows: list[dict[str, Any]]
    summary: dict[str, Any]
    problems: ProblemLog
    paths: dict[str, Path] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------ prediction file


def _prob_columns(fields: Sequence[str], ls: LabelSet, path: Path) -> tuple[list[str], bool]:
    """The probability columns to read, in class order, and whether only the positive class is given."""
    given = [f[len(PROB_PREFIX):] for f in fields if f.startswith(PROB_PREFIX)]
    expected = ", ".join(PROB_PREFIX + c for c in ls.classes)
    unknown = [c for c in given if c not in ls.classes]
    if unknown:
        raise ValueError(f"{path}: column(s) {', '.join(PROB_PREFIX + c for c in unknown)} are not classes of task "
                         f"{ls.name!r}; expected {expected}")
    if set(given) == set(ls.classes):
        return [PROB_PREFIX + c for c in ls.classes], False
    if ls.is_binary and given == [ls.positive]:
        return [PROB_PREFIX + ls.positive], True
    alone = f" (or {PROB_PREFIX}{ls.positive} alone)" if ls.is_binary else ""
    raise ValueError(f"{path}: probability columns {[PROB_PREFIX + c for c in given]} do not cover task "
                     f"{ls.name!r}; expected {expected}{alone}")


def _parse_lesion_index(value: Any) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ValueError(f"lesion_index {value!r} is not an integer")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"lesion_index {value!r} is not an integer") from None
    if not number.is_integer() or number < 0:
        raise ValueError(f"lesion_index {value!r} is not an integer >= 0")
    return int(number)


def _parse_probs(raw: Mapping[str, Any], columns: Sequence[str], positive_only: bool) -> np.ndarray:
    values = []
    for column in columns:
        value = raw.get(column)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise ValueError(f"{column} is missing")
        if isinstance(value, bool):
            raise ValueError(f"{column} = {value!r} is not a number")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{column} = {value!r} is not a number") from None
        if not math.isfinite(number):
            raise ValueError(f"{column} = {value!r} is not finite")
        if not 0.0 <= number <= 1.0:
            raise ValueError(f"{column} = {number} is outside [0, 1]")
        values.append(number)
    if positive_only:
        return np.array([1.0 - values[0], values[0]])
    total = float(sum(values))
    if abs(total - 1.0) > SUM_TOLERANCE:
        raise ValueError(f"probabilities sum to {total:.6g}, not 1 (tolerance {SUM_TOLERANCE})")
    return np.array(values)


def read_predictions(path: str | os.PathLike, ls: LabelSet) -> list[PredictionRow]:
    """Read a prediction file (CSV or JSON, the format of the module docstring) for label set ``ls``.

    A row whose values are unusable comes back with ``kind``/``error`` set (the caller reports it); a file
    that cannot be read as a whole raises.

    Raises:
        FileNotFoundError: no such file.
        ValueError: (naming the file) not ``.csv``/``.json``, not parseable, no ``image`` column, probability
            columns that do not fit the task, no ``lesion_index`` column for a lesion-level task.

    Example:
        >>> import tempfile
        >>> scratch = tempfile.TemporaryDirectory(); f = Path(scratch.name) / "p.csv"
        >>> _ = f.write_text("image,prob_malignant\\na.png,0.8\\nb.png,1.5\\n")
        >>> rows = read_predictions(f, label_set("malignant"))
        >>> rows[0].probs.tolist(), rows[1].kind, rows[1].error, rows[1].source.endswith("p.csv:3")
        ([0.19999999999999996, 0.8], 'bad_probability', 'prob_malignant = 1.5 is outside [0, 1]', True)
        >>> scratch.cleanup()
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: prediction file not found")
    suffix = path.suffix.lower()
    raw_rows: list[tuple[str, Mapping[str, Any]]] = []
    if suffix == ".csv":
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            fields = list(reader.fieldnames or [])
            for row in reader:
                raw_rows.append((f"{path}:{reader.line_num}", row))
    elif suffix == ".json":
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON ({e})") from e
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise ValueError(f"{path}: expected a JSON list of row objects ({{'image': ..., 'prob_<class>': ...}})")
        fields = list(dict.fromkeys(k for r in data for k in r))
        raw_rows = [(f"{path}#[{i}]", r) for i, r in enumerate(data)]
    else:
        raise ValueError(f"{path}: expected a .csv or .json prediction file")
    if IMAGE not in fields:
        raise ValueError(f"{path}: no {IMAGE!r} column")
    lesion_level = ls.level == LESION_LEVEL
    if lesion_level and LESION_INDEX not in fields:
        raise ValueError(f"{path}: task {ls.name!r} is lesion-level: a {LESION_INDEX!r} column is needed")
    columns, positive_only = _prob_columns(fields, ls, path)

    rows = []
    for source, raw in raw_rows:
        image = raw.get(IMAGE)
        image = None if image is None or not str(image).strip() else str(image).strip()
        row = PredictionRow(source=source, image=image)
        rows.append(row)
        if image is None:
            row.kind, row.error = "missing_image_path", f"row has no {IMAGE!r}"
            continue
        if lesion_level:
            try:
                row.lesion_index = _parse_lesion_index(raw.get(LESION_INDEX))
            except ValueError as e:
                row.kind, row.error = "bad_lesion_index", str(e)
                continue
        try:
            row.probs = _parse_probs(raw, columns, positive_only)
        except ValueError as e:
            row.kind, row.error = "bad_probability", str(e)
    return rows


# --------------------------------------------------------------------------------------------- metrics


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


# ---------------------------------------------------------------------------------------------- inputs


def _item_ref(entry: Mapping[str, Any], lesion_level: bool) -> str:
    if not lesion_level:
        return str(entry["image"])
    index = entry["lesion_index"]
    return f"{entry['image']}#" + ("normal_tissue" if index is None else f"lesion_index={index}")


def _collect(
    pred_path: Path, split_items: Sequence[Mapping[str, Any]], ls: LabelSet, label_path: Path, split: str,
    other_keys: Mapping[tuple[str | None, int | None], str], problems: ProblemLog, role: str,
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Entries (one per item of ``split``: truth, probabilities, status) matched to ``pred_path``'s rows."""
    lesion_level = ls.level == LESION_LEVEL
    label_base, pred_base = label_path.parent, pred_path.parent
    entries: list[dict[str, Any]] = []
    index: dict[tuple[str | None, int | None], dict[str, Any]] = {}
    for n, item in enumerate(ls.items(split_items)):
        image = resolve_datalist_path(item.get(IMAGE), label_base)
        patient = item.get(PATIENT_ID)
        truth, reason = ls.truth(item)
        entry: dict[str, Any] = {
            "image": image, "lesion_index": item.get(LESION_INDEX) if lesion_level else None,
            "patient_id": patient, "truth_index": truth, "truth": None if truth is None else ls.classes[truth],
            "status": "ok" if truth is not None else "skipped", "detail": reason or "", "probs": None,
            "source": None, "_group": patient if patient not in (None, "") else f"item:{image}#{n}",
        }
        entries.append(entry)
        if image is None:
            entry["status"], entry["detail"] = "missing_image_path", f"item has no {IMAGE!r}"
            problems.add(f"{label_path}#{split}[{n}]", "missing_image_path", f"item has no {IMAGE!r} ({role})")
            continue
        key = (image, entry["lesion_index"])
        if key in index:
            entry["status"] = "duplicate_item"
            entry["detail"] = f"the same item appears earlier in split {split!r}; only the first is matched"
            problems.add(_item_ref(entry, lesion_level), "duplicate_item", entry["detail"])
            continue
        index[key] = entry
        if patient in (None, "") and truth is not None:
            problems.add(_item_ref(entry, lesion_level), "missing_patient_id",
                         "the item is its own patient in the bootstrap")

    counts = {"rows": 0, "unmatched_rows": 0, "duplicate_rows": 0, "unusable_rows": 0, "rows_for_skipped_items": 0}
    for row in read_predictions(pred_path, ls):
        counts["rows"] += 1
        if row.kind in ("missing_image_path", "bad_lesion_index"):
            counts["unusable_rows"] += 1
            problems.add(row.source, row.kind, row.error or "")
            continue
        keys = [(resolve_datalist_path(row.image, base), row.lesion_index) for base in (label_base, pred_base)]
        entry = next((index[key] for key in keys if key in index), None)
        what = row.image + ("" if not lesion_level else f", lesion_index {row.lesion_index}"
                            if row.lesion_index is not None else ", no lesion_index (normal tissue)")
        if entry is None:
            elsewhere = next((other_keys[key] for key in keys if key in other_keys), None)
            hint = f" (it is an item of split {elsewhere!r})" if elsewhere else ""
            if lesion_level and row.lesion_index is None and not ls.include_normal:
                hint += "; a row without lesion_index is a normal-tissue item, which needs include_normal"
            counts["unmatched_rows"] += 1
            problems.add(row.source, "unmatched_prediction", f"{what} matches no item of split {split!r}{hint}")
            continue
        if entry["source"] is not None:
            counts["duplicate_rows"] += 1
            problems.add(row.source, "duplicate_prediction",
                         f"{what} already predicted in {entry['source']} (that row is used)")
            continue
        entry["source"] = row.source
        if entry["status"] == "skipped":
            counts["rows_for_skipped_items"] += 1
            continue
        if row.kind is not None:
            counts["unusable_rows"] += 1
            entry["status"], entry["detail"] = row.kind, row.error or ""
            problems.add(row.source, row.kind, f"{row.error} ({what})")
            continue
        entry["probs"] = row.probs
    for entry in entries:
        if entry["status"] == "ok" and entry["probs"] is None:
            entry["status"], entry["detail"] = "missing_prediction", f"no row in {pred_path}"
            problems.add(_item_ref(entry, lesion_level), "missing_prediction", f"no row in {pred_path} ({role})")
    return entries, counts


def _entry_counts(entries: Sequence[Mapping[str, Any]], ls: LabelSet) -> dict[str, Any]:
    ok = [e for e in entries if e["status"] == "ok"]
    not_ok = [e for e in entries if e["status"] not in ("ok", "skipped")]
    skipped = [e for e in entries if e["status"] == "skipped"]
    return {
        "items": len(entries),
        "patients": len({e["_group"] for e in entries if e["status"] != "skipped"}),
        "evaluated": len(ok),
        "evaluated_patients": len({e["_group"] for e in ok}),
        "by_class": {c: sum(e["truth"] == c for e in ok) for c in ls.classes},
        "missing": len(not_ok),
        "missing_by_reason": dict(Counter(e["status"] for e in not_ok)),
        "skipped": len(skipped),
        "skipped_by_reason": dict(Counter(e["detail"] for e in skipped)),
    }


# --------------------------------------------------------------------------------------------- plots


def _plot_curves(kind: str, entries: Sequence[Mapping[str, Any]], ls: LabelSet,
                 metrics: Mapping[str, Any]) -> Any:
    """ROC (``kind="roc"``) or precision-recall curves, one per class (binary: the positive class)."""
    y = np.array([e["truth_index"] for e in entries], dtype=int)
    p = np.array([e["probs"] for e in entries], dtype=float).reshape(len(entries), len(ls.classes))
    shown = [ls.classes.index(ls.positive)] if ls.is_binary else range(len(ls.classes))
    if kind == "roc":
        axes = Axes(f"ROC, {ls.name} ({len(y)} items)", "1 - specificity (false positive rate)",
                     "sensitivity (true positive rate)")
        axes.dashed_diagonal()
    else:
        axes = Axes(f"precision-recall, {ls.name} ({len(y)} items)", "recall (sensitivity)", "precision")
    legend = []
    for n, c in enumerate(shown):
        name, colour = ls.classes[c], COLOURS[n % len(COLOURS)]
        truth = y == c
        if kind == "roc":
            value = metrics["auc"][name]
            if 0 < truth.sum() < y.size:
                fpr, tpr, _ = roc_curve(truth, p[:, c])
                axes.line(fpr, tpr, colour)
            legend.append((f"{name}: AUC {_num(value['estimate'])} {_ci(value)}", colour))
        else:
            value = metrics["average_precision"][name]
            if truth.sum() > 0:
                precision, recall, _ = precision_recall_curve(truth, p[:, c])
                axes.line(recall, precision, colour)
            legend.append((f"{name}: AP {_num(value['estimate'])} {_ci(value)}", colour))
    group = metrics["auc" if kind == "roc" else "average_precision"]
    if not any(math.isfinite(group[ls.classes[c]]["estimate"]) for c in shown):
        legend.append(("undefined: a class is absent from the evaluated items", (200, 0, 0)))
    axes.text_lines(legend, "lower right" if kind == "roc" else "lower left")
    return axes.image


def _plot_reliability(bins: Mapping[str, np.ndarray], ece: Mapping[str, Any], ls: LabelSet) -> Any:
    what = f"P({ls.positive})" if ls.is_binary else "top-class confidence"
    axes = Axes(f"reliability, {ls.name}: ECE {_num(ece['estimate'])} {_ci(ece)}", f"predicted {what}",
                 "observed frequency" if ls.is_binary else "observed accuracy")
    edges = bins["edges"]
    for i, count in enumerate(bins["count"]):
        if not count:
            continue
        x0, y0 = axes.px(edges[i], bins["observed"][i])
        x1, y1 = axes.px(edges[i + 1], 0.0)
        axes.draw.rectangle([x0 + 1, y0, x1 - 1, y1], fill=(170, 200, 235), outline=(31, 119, 180))
        cx, cy = axes.px(bins["mean_confidence"][i], bins["observed"][i])
        axes.draw.ellipse([cx - 3, cy - 3, cx + 3, cy + 3], fill=(214, 39, 40))
        inside = bins["observed"][i] > 0.92  # no room above the bar under the title
        axes.draw.text(((x0 + x1) / 2, y0 + 2 if inside else y0 - 2), str(int(count)), fill=(0, 0, 0),
                       font=axes.font, anchor="ma" if inside else "md")
    axes.dashed_diagonal()
    axes.text_lines([("bars: observed per bin (n above)", (31, 119, 180)),
                     ("dots: mean predicted in the bin", (214, 39, 40))], "upper left")
    return axes.image


# ------------------------------------------------------------------------------------------------- main


def _num(x: Any) -> str:
    return "-" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.3f}"


def _ci(m: Mapping[str, Any]) -> str:
    return f"[{_num(m['ci'][0])}, {_num(m['ci'][1])}]"


def evaluate_classification(
    pred: str | os.PathLike,
    label: str | os.PathLike,
    out: str | os.PathLike,
    task: str,
    split: str = "test",
    val_pred: str | os.PathLike | None = None,
    include_normal: bool = False,
    fixed_sensitivities: Sequence[float] | float = (0.9,),
    n_resamples: int = 2000,
    seed: int = 0,
    n_bins: int = 10,
    overwrite: bool = False,
) -> ClassificationReport:
    """Evaluate class probabilities against a datalist split and write :data:`REPORT_FILES` into ``out``.

    Args:
        pred: the prediction file (CSV or JSON, the format of the module docstring) of ``split``.
        label: the datalist JSON (``mammo-monai index ...``); truth from :mod:`mammo_monai.data.labels`,
            patients from ``patient_id``.
        out: the report folder (created when missing).
        task: a label set of :data:`mammo_monai.data.labels.LABEL_SETS` (``abnormal``, ``malignant``,
            ``pathology``, ``type_pathology``).
        split: the split of ``label`` that ``pred`` scores.
        val_pred: binary tasks: predictions of the ``validation`` split, to choose the threshold (Youden's J);
            without it the threshold is 0.5. Not used by multi-class tasks (argmax).
        include_normal: ``type_pathology`` with the normal-tissue class (normal images as items).
        fixed_sensitivities: binary tasks: sensitivities to report the specificity at (one number or several).
        n_resamples: bootstrap draws for the 95% CIs (resampling patients).
        seed: bootstrap seed (the same draws for every metric).
        n_bins: calibration bins (ECE, reliability diagram).
        overwrite: replace existing report files (otherwise ``FileExistsError`` before any work).

    Returns:
        a :class:`ClassificationReport`.

    Raises:
        FileNotFoundError / ValueError: a missing input, a prediction file that does not fit the task, an
            empty split, a bad argument, a report file that would replace an input.
        FileExistsError: a report file exists and ``overwrite`` is False.
    """
    ls = label_set(task, include_normal=include_normal)
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if val_pred is not None and split == "validation":
        raise ValueError("val_pred chooses the threshold on the validation split; it cannot also be the "
                         "evaluated split (evaluate 'test', or leave val_pred out)")
    if isinstance(fixed_sensitivities, (int, float)):
        fixed_sensitivities = (fixed_sensitivities,)
    sensitivities = tuple(float(s) for s in fixed_sensitivities)
    if not all(0.0 < s <= 1.0 for s in sensitivities):
        raise ValueError(f"fixed_sensitivities must be in (0, 1], got {list(fixed_sensitivities)}")
    if int(n_bins) < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    pred_path, label_path, out_dir = Path(pred), Path(label), Path(out)
    val_path = Path(val_pred) if val_pred is not None else None
    if not label_path.is_file():
        raise FileNotFoundError(f"{label_path}: label datalist not found")
    for path, what in ((pred_path, "prediction file"), (val_path, "validation prediction file")):
        if path is not None and not path.is_file():
            raise FileNotFoundError(f"{path}: {what} not found")
    ensure_outside_inputs(out_dir, pred_path, label_path, val_path)
    paths = {key: out_dir / name for key, name in REPORT_FILES.items()}
    inputs = {p.resolve() for p in (pred_path, label_path, val_path) if p is not None}
    for path in paths.values():
        if path.resolve() in inputs:
            raise ValueError(f"{path}: the report would replace an input file; choose another out folder")
        ensure_writable(path, overwrite)

    datalist = load_datalist(label_path)
    if not datalist[split]:
        raise ValueError(f"{label_path}: split {split!r} has no item to evaluate")
    problems = ProblemLog()
    keys_by_split = {
        s: {(resolve_datalist_path(i.get(IMAGE), label_path.parent),
             i.get(LESION_INDEX) if ls.level == LESION_LEVEL else None)
            for i in ls.items(datalist[s])}
        for s in SPLITS
    }

    def elsewhere(current: str) -> dict[tuple[str | None, int | None], str]:
        return {key: s for s in SPLITS if s != current for key in keys_by_split[s]}

    entries, row_counts = _collect(pred_path, datalist[split], ls, label_path, split, elsewhere(split), problems,
                                   split)
    ok = [e for e in entries if e["status"] == "ok"]
    y = np.array([e["truth_index"] for e in ok], dtype=int)
    probs = np.array([e["probs"] for e in ok], dtype=float).reshape(len(ok), len(ls.classes))
    groups = [e["_group"] for e in ok]

    # ---- the binary threshold, never chosen on the evaluated split
    threshold_info: dict[str, Any]
    threshold: float | None = None
    if not ls.is_binary:
        threshold_info = {"value": None, "source": "argmax",
                          "note": "multi-class: the argmax" + ("; val_pred is not used" if val_path else "")}
    elif val_path is None:
        threshold = DEFAULT_THRESHOLD
        threshold_info = {"value": threshold, "source": "default",
                          "note": f"no val_pred: {DEFAULT_THRESHOLD} (the argmax), not tuned; the evaluated split "
                                  "never chooses its threshold"}
    else:
        val_entries, val_rows = _collect(val_path, datalist["validation"], ls, label_path, "validation",
                                         elsewhere("validation"), problems, "validation, for the threshold")
        val_ok = [e for e in val_entries if e["status"] == "ok"]
        chosen, info = youden_threshold([e["truth_index"] for e in val_ok], [e["probs"][1] for e in val_ok])
        validation = {"file": str(val_path.resolve()), **_entry_counts(val_entries, ls), "rows": val_rows, **info}
        if chosen is None:
            threshold = DEFAULT_THRESHOLD
            threshold_info = {"value": threshold, "source": "default", "validation": validation,
                              "note": f"{info['reason']}: {DEFAULT_THRESHOLD} (the argmax) used instead"}
        else:
            threshold = chosen
            threshold_info = {"value": threshold, "source": "validation", "method": "youden_j",
                              "validation": validation,
                              "note": "Youden's J on the validation ROC (score >= threshold is positive)"}

    # ---- metrics with patient bootstrap CIs (every metric from the same draws)
    shared = SharedResamples(lambda idx: classification_metrics(y[idx], probs[idx], ls.classes, threshold,
                                                                 sensitivities, n_bins))
    point = shared(np.arange(len(ok)))
    flat = {}
    for name in point:
        b = bootstrap_by_group(lambda idx, name=name: shared(idx)[name], groups, int(n_resamples), _CONFIDENCE, seed)
        flat[name] = {"estimate": b["estimate"], "ci": [b["low"], b["high"]], "n_invalid": b["n_invalid"]}
    metrics = _nest(flat)
    pred_argmax = probs.argmax(axis=1) if len(ok) else np.zeros(0, int)
    confusion = {"argmax": _confusion(y, pred_argmax, len(ls.classes)).tolist()}
    pred_threshold = None
    if threshold is not None:
        pred_threshold = (probs[:, 1] >= threshold).astype(int)
        confusion["threshold"] = _confusion(y, pred_threshold, 2).tolist()
    conf, hit = ((probs[:, 1], y == 1) if ls.is_binary
                 else ((probs.max(axis=1) if len(ok) else np.zeros(0)), pred_argmax == y))
    bins = calibration_bins(conf, hit, n_bins)

    # ---- per item
    for e in entries:
        e["prediction"] = e["prediction_at_threshold"] = None
    for i, e in enumerate(ok):
        e["prediction"] = ls.classes[pred_argmax[i]]
        if pred_threshold is not None:
            e["prediction_at_threshold"] = ls.classes[pred_threshold[i]]
    rows = []
    for e in entries:
        row = {k: v for k, v in e.items() if k not in ("probs", "_group", "truth_index")}
        for c, name in enumerate(ls.classes):
            row[PROB_PREFIX + name] = None if e["probs"] is None else float(e["probs"][c])
        rows.append(row)

    counts = _entry_counts(entries, ls)
    counts["prediction_rows"] = row_counts
    summary: dict[str, Any] = {
        "task": {"name": ls.name, "level": ls.level, "classes": list(ls.classes),
                 "positive": ls.positive if ls.is_binary else None, "include_normal": ls.include_normal,
                 "description": ls.description},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "inputs": {"pred": str(pred_path.resolve()), "label": str(label_path.resolve()), "split": split,
                   "val_pred": str(val_path.resolve()) if val_path else None},
        "settings": {"fixed_sensitivities": list(sensitivities), "n_bins": int(n_bins),
                     "n_resamples": int(n_resamples), "seed": int(seed), "confidence": _CONFIDENCE,
                     "bootstrap": "percentile, resampling patients with replacement (all their items); every "
                                  "metric from the same draws", "sum_tolerance": SUM_TOLERANCE},
        "counts": counts,
        "threshold": threshold_info,
        "metrics": metrics,
        "confusion_matrix": {"rows": "truth", "columns": "prediction", "classes": list(ls.classes), **confusion},
        "calibration": {"n_bins": int(n_bins), "ece": metrics["ece"],
                        "on": f"P({ls.positive})" if ls.is_binary else "top-class confidence vs argmax correct",
                        "bins": [{"low": float(bins["edges"][i]), "high": float(bins["edges"][i + 1]),
                                  "count": int(bins["count"][i]), "mean_confidence": bins["mean_confidence"][i],
                                  "observed": bins["observed"][i]} for i in range(int(n_bins))]},
        "conventions": {
            "undefined": "a zero denominator (class never predicted, class absent) gives NaN (null); bootstrap "
                         "resamples giving NaN are counted in n_invalid and left out of the CI",
            "macro": "macro AUC and balanced accuracy are null when a class is absent from the evaluated items",
            "missing": "items without a usable prediction are excluded, not scored (see counts.missing)",
            "argmax": "ties go to the first class",
        },
        "problems": {"counts": problems.counts(), "file": str(paths["problems"]),
                     "first": [str(p) for p in problems.problems[:_MAX_LISTED_PROBLEMS]]},
        "files": {k: str(v) for k, v in paths.items()},
        "versions": {"mammo_monai": __version__, "monai": monai_version, "scikit_learn": sklearn_version},
    }

    # ---- files
    out_dir.mkdir(parents=True, exist_ok=True)
    fields = ["image", "lesion_index", "patient_id", "status", "detail", "truth",
              *(PROB_PREFIX + c for c in ls.classes), "prediction"]
    fields += ["prediction_at_threshold"] if threshold is not None else []
    write_csv(rows, paths["per_item"], [*fields, "source"])
    cm_rows = [{"operating_point": point_name, "truth": ls.classes[t], **dict(zip(ls.classes, counts_row))}
               for point_name, matrix in confusion.items() for t, counts_row in enumerate(matrix)]
    write_csv(cm_rows, paths["confusion_matrix"], ["operating_point", "truth", *ls.classes])
    problems.write_csv(paths["problems"])
    _plot_curves("roc", ok, ls, metrics).save(paths["roc"])
    _plot_curves("pr", ok, ls, metrics).save(paths["pr"])
    _plot_reliability(bins, metrics["ece"], ls).save(paths["reliability"])
    write_json(summary, paths["metrics"])
    return ClassificationReport(rows=rows, summary=summary, problems=problems, paths=paths)


def format_classification_summary(report: ClassificationReport) -> str:
    """A few lines for a terminal: counts, AUC, balanced accuracy, operating points, ECE with their CIs,
    per-class figures, problems, files.

    Example output::

        malignant (image level; non_malignant, malignant): evaluated 40 of 44 items (20 patients); ...
        AUC 0.912 [0.851, 0.962]   balanced accuracy (argmax) 0.800 [0.712, 0.880]   ECE 0.061 [0.040, 0.130]
        threshold 0.43 (validation): sensitivity 0.900 [0.780, 1.000]   specificity 0.800 [0.690, 0.900]
        ...
    """
    s = report.summary
    task, counts, m = s["task"], s["counts"], s["metrics"]
    missing = ", ".join(f"{k}: {v}" for k, v in counts["missing_by_reason"].items())
    skipped = "; ".join(f"{v} {k}" for k, v in counts["skipped_by_reason"].items())
    lines = [f"{task['name']} ({task['level']} level; {', '.join(task['classes'])}): evaluated {counts['evaluated']} "
             f"of {counts['items']} items ({counts['evaluated_patients']} patients); missing {counts['missing']}"
             + (f" ({missing})" if missing else "") + f"; skipped {counts['skipped']}"
             + (f" ({skipped})" if skipped else ""),
             "truth: " + ", ".join(f"{c} {n}" for c, n in counts["by_class"].items())]

    def show(label: str, entry: Mapping[str, Any]) -> str:
        invalid = f" ({entry['n_invalid']} invalid draws)" if entry["n_invalid"] else ""
        return f"{label} {_num(entry['estimate'])} {_ci(entry)}{invalid}"

    auc_label = "AUC" if len(task["classes"]) == 2 else "macro AUC"
    lines.append("   ".join([show(auc_label, m["auc"]["macro"]), show("balanced accuracy (argmax)",
                                                                        m["balanced_accuracy"]),
                             show(f"ECE ({s['calibration']['n_bins']} bins)", m["ece"])]))
    threshold = s["threshold"]
    if "threshold" in m:
        lines.append(f"threshold {threshold['value']:.4g} ({threshold['source']}): "
                     + "   ".join(show(k, m["threshold"][k]) for k in ("sensitivity", "specificity")))
        lines.append(f"  {threshold['note']}")
    for key, entry in m.get("specificity_at_sensitivity", {}).items():
        lines.append(show(f"specificity at sensitivity {key}", entry)
                     + f" (threshold {_num(m['threshold_at_sensitivity'][key]['estimate'])})")
    lines.append(f"{'class':<24} {'AUC':>6} {'prec.':>6} {'recall':>6} {'spec.':>6} {'F1':>6}")
    for c in task["classes"]:
        lines.append(f"{c:<24} " + " ".join(f"{_num(m[g][c]['estimate']):>6}"
                                             for g in ("auc", "precision", "recall", "specificity", "f1")))
    if len(report.problems):
        kinds = ", ".join(f"{k}: {v}" for k, v in report.problems.counts().items())
        lines.append(f"problems: {len(report.problems)} ({kinds}) -> {report.paths.get('problems')}")
    lines += [f"wrote {path}" for path in report.paths.values()]
    return "\n".join(lines)
