"""The classification evaluator's runner (the I/O): :func:`evaluate_classification` reads a prediction file and a
datalist, computes the metrics with :mod:`.metrics` and writes :data:`REPORT_FILES`;
:func:`format_classification_summary` prints it."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn import __version__ as sklearn_version

from ...data.labels import LESION_LEVEL, LabelSet, label_set
from ...data.problems import ProblemLog
from ...data.schema import IMAGE, SPLITS
from ..inputs import resolve_datalist_path
from ..report import write_csv
from ..runner import EvaluationRunner, format_problems_and_files
from .matching import _collect, _entry_counts
from .metrics import _confusion, _nest, calibration_bins, classification_metrics, youden_threshold
from .plots import _ci, _num, _plot_curves, _plot_reliability
from .predictions import LESION_INDEX, PROB_PREFIX, SUM_TOLERANCE

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
CONVENTIONS = {
    "undefined": "a zero denominator (class never predicted, class absent) gives NaN (null); bootstrap "
                 "resamples giving NaN are counted in n_invalid and left out of the CI",
    "macro": "macro AUC and balanced accuracy are null when a class is absent from the evaluated items",
    "missing": "items without a usable prediction are excluded, not scored (see counts.missing)",
    "argmax": "ties go to the first class",
}


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


def _check_arguments(split: str, val_pred: Any, fixed_sensitivities: Sequence[float] | float, n_bins: int
                     ) -> tuple[float, ...]:
    """Raise on a bad argument (the split is known); the sensitivities as a tuple of floats."""
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
    return sensitivities


def _choose_threshold(ls: LabelSet, val_path: Path | None, validation_items: Sequence[Mapping[str, Any]],
                      label_path: Path, other_keys: Mapping[tuple[str | None, int | None], str],
                      problems: ProblemLog) -> tuple[float | None, dict[str, Any]]:
    """The binary threshold, never chosen on the evaluated split: Youden's J on the validation predictions, else
    :data:`DEFAULT_THRESHOLD`; ``None`` for a multi-class task (argmax). Returns it and its report entry."""
    if not ls.is_binary:
        return None, {"value": None, "source": "argmax",
                      "note": "multi-class: the argmax" + ("; val_pred is not used" if val_path else "")}
    if val_path is None:
        return DEFAULT_THRESHOLD, {"value": DEFAULT_THRESHOLD, "source": "default",
                                   "note": f"no val_pred: {DEFAULT_THRESHOLD} (the argmax), not tuned; the "
                                           "evaluated split never chooses its threshold"}
    val_entries, val_rows = _collect(val_path, validation_items, ls, label_path, "validation", other_keys, problems,
                                     "validation, for the threshold")
    val_ok = [e for e in val_entries if e["status"] == "ok"]
    chosen, info = youden_threshold([e["truth_index"] for e in val_ok], [e["probs"][1] for e in val_ok])
    validation = {"file": str(val_path.resolve()), **_entry_counts(val_entries, ls), "rows": val_rows, **info}
    if chosen is None:
        return DEFAULT_THRESHOLD, {"value": DEFAULT_THRESHOLD, "source": "default", "validation": validation,
                                   "note": f"{info['reason']}: {DEFAULT_THRESHOLD} (the argmax) used instead"}
    return chosen, {"value": chosen, "source": "validation", "method": "youden_j", "validation": validation,
                    "note": "Youden's J on the validation ROC (score >= threshold is positive)"}


def _item_rows(entries: Sequence[dict[str, Any]], ok: Sequence[dict[str, Any]], ls: LabelSet,
               pred_argmax: np.ndarray, pred_threshold: np.ndarray | None) -> list[dict[str, Any]]:
    """The ``per_item.csv`` rows: each item's status, truth, probabilities and predictions."""
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
    return rows


def _calibration(bins: Mapping[str, np.ndarray], n_bins: int, ece: Any, ls: LabelSet) -> dict[str, Any]:
    return {"n_bins": int(n_bins), "ece": ece,
            "on": f"P({ls.positive})" if ls.is_binary else "top-class confidence vs argmax correct",
            "bins": [{"low": float(bins["edges"][i]), "high": float(bins["edges"][i + 1]),
                      "count": int(bins["count"][i]), "mean_confidence": bins["mean_confidence"][i],
                      "observed": bins["observed"][i]} for i in range(int(n_bins))]}


class ClassificationRunner(EvaluationRunner):
    """The classification task of :class:`~mammo_monai.evaluation.runner.EvaluationRunner`: probability rows matched
    to the split's items (:mod:`.matching`), the threshold from the validation predictions, then
    :func:`classification_metrics` with patient bootstrap CIs, confusion matrices and calibration. The arguments are
    those of :func:`evaluate_classification`."""

    report_files = REPORT_FILES

    def __init__(self, pred: str | os.PathLike, label: str | os.PathLike, out: str | os.PathLike, task: str,
                 split: str = "test", val_pred: str | os.PathLike | None = None, include_normal: bool = False,
                 fixed_sensitivities: Sequence[float] | float = (0.9,), n_resamples: int = 2000, seed: int = 0,
                 n_bins: int = 10, overwrite: bool = False) -> None:
        self.ls = label_set(task, include_normal=include_normal)
        super().__init__(pred, label, out, split, n_resamples, seed, overwrite)
        self.val_path = Path(val_pred) if val_pred is not None else None
        self.fixed_sensitivities, self.n_bins = fixed_sensitivities, n_bins
        self.sensitivities: tuple[float, ...] = ()
        # what evaluate() finds, for write_reports() and the report
        self.rows: list[dict[str, Any]] = []
        self.ok: list[dict[str, Any]] = []
        self.threshold: float | None = None
        self.confusion: dict[str, list] = {}
        self.metrics: dict[str, Any] = {}
        self.bins: dict[str, np.ndarray] = {}

    def check_arguments(self) -> None:
        super().check_arguments()
        self.sensitivities = _check_arguments(self.split, self.val_path, self.fixed_sensitivities, self.n_bins)

    def check_inputs(self) -> None:
        super().check_inputs()
        for path, what in ((self.pred, "prediction file"), (self.val_path, "validation prediction file")):
            if path is not None and not path.is_file():
                raise FileNotFoundError(f"{path}: {what} not found")

    def protected_inputs(self) -> list[tuple[Path | None, str]]:
        return [*super().protected_inputs(), (self.val_path, "an input file (the validation predictions)")]

    def task_entry(self) -> dict[str, Any]:
        ls = self.ls
        return {"name": ls.name, "level": ls.level, "classes": list(ls.classes),
                "positive": ls.positive if ls.is_binary else None, "include_normal": ls.include_normal,
                "description": ls.description}

    def input_details(self) -> dict[str, Any]:
        return {"val_pred": str(self.val_path.resolve()) if self.val_path else None}

    def settings(self) -> dict[str, Any]:
        return {"fixed_sensitivities": list(self.sensitivities), "n_bins": int(self.n_bins),
                **self.bootstrap_settings("items", "metric"), "sum_tolerance": SUM_TOLERANCE}

    def versions(self) -> dict[str, str]:
        return {**super().versions(), "scikit_learn": sklearn_version}

    def evaluate(self, datalist: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[str, Any]:
        ls, label_path, split, n_bins = self.ls, self.label, self.split, self.n_bins
        keys_by_split = {
            s: {(resolve_datalist_path(i.get(IMAGE), label_path.parent),
                 i.get(LESION_INDEX) if ls.level == LESION_LEVEL else None)
                for i in ls.items(datalist[s])}
            for s in SPLITS
        }

        def elsewhere(current: str) -> dict[tuple[str | None, int | None], str]:
            return {key: s for s in SPLITS if s != current for key in keys_by_split[s]}

        entries, row_counts = _collect(self.pred, datalist[split], ls, label_path, split, elsewhere(split),
                                       self.problems, split)
        ok = [e for e in entries if e["status"] == "ok"]
        y = np.array([e["truth_index"] for e in ok], dtype=int)
        probs = np.array([e["probs"] for e in ok], dtype=float).reshape(len(ok), len(ls.classes))
        threshold, threshold_info = _choose_threshold(ls, self.val_path, datalist["validation"], label_path,
                                                      elsewhere("validation"), self.problems)
        self.threshold = threshold

        # every metric from the same patient resamples; then operating points and calibration
        metrics = _nest(self.bootstrap(lambda idx: classification_metrics(y[idx], probs[idx], ls.classes, threshold,
                                                                         self.sensitivities, n_bins),
                                       len(ok), [e["_group"] for e in ok]))
        pred_argmax = probs.argmax(axis=1) if len(ok) else np.zeros(0, int)
        confusion = {"argmax": _confusion(y, pred_argmax, len(ls.classes)).tolist()}
        pred_threshold = None
        if threshold is not None:
            pred_threshold = (probs[:, 1] >= threshold).astype(int)
            confusion["threshold"] = _confusion(y, pred_threshold, 2).tolist()
        conf, hit = ((probs[:, 1], y == 1) if ls.is_binary
                     else ((probs.max(axis=1) if len(ok) else np.zeros(0)), pred_argmax == y))
        self.bins = calibration_bins(conf, hit, n_bins)
        self.rows = _item_rows(entries, ok, ls, pred_argmax, pred_threshold)
        self.ok, self.confusion, self.metrics = ok, confusion, metrics
        counts = _entry_counts(entries, ls)
        counts["prediction_rows"] = row_counts
        return {
            "counts": counts,
            "threshold": threshold_info,
            "metrics": metrics,
            "confusion_matrix": {"rows": "truth", "columns": "prediction", "classes": list(ls.classes), **confusion},
            "calibration": _calibration(self.bins, n_bins, metrics["ece"], ls),
            "conventions": dict(CONVENTIONS),
        }

    def write_reports(self, summary: dict[str, Any]) -> None:
        ls, paths = self.ls, self.paths
        fields = ["image", "lesion_index", "patient_id", "status", "detail", "truth",
                  *(PROB_PREFIX + c for c in ls.classes), "prediction"]
        fields += ["prediction_at_threshold"] if self.threshold is not None else []
        write_csv(self.rows, paths["per_item"], [*fields, "source"])
        cm_rows = [{"operating_point": point_name, "truth": ls.classes[t], **dict(zip(ls.classes, counts_row))}
                   for point_name, matrix in self.confusion.items() for t, counts_row in enumerate(matrix)]
        write_csv(cm_rows, paths["confusion_matrix"], ["operating_point", "truth", *ls.classes])
        _plot_curves("roc", self.ok, ls, self.metrics).save(paths["roc"])
        _plot_curves("pr", self.ok, ls, self.metrics).save(paths["pr"])
        _plot_reliability(self.bins, self.metrics["ece"], ls).save(paths["reliability"])


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
        pred: the prediction file (CSV or JSON, the format of :mod:`mammo_monai.evaluation.classification`) of
            ``split``.
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
    runner = ClassificationRunner(pred, label, out, task, split, val_pred, include_normal, fixed_sensitivities,
                                  n_resamples, seed, n_bins, overwrite)
    summary = runner.run()
    return ClassificationReport(rows=runner.rows, summary=summary, problems=runner.problems, paths=runner.paths)


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
    lines += format_problems_and_files(report.problems, report.paths)
    return "\n".join(lines)
