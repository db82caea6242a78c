"""The detection evaluator's runner (the I/O): :func:`evaluate_detection` reads a prediction folder and a datalist,
computes the FROC with :mod:`.froc` and writes :data:`REPORT_FILES`; :func:`format_detection_summary` prints it."""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...data.problems import ProblemLog
from ...data.schema import LESION_TYPES
from ..report import write_csv
from ..runner import EvaluationRunner, format_problems_and_files
from .froc import _ALL, FP_RATES, _curve_rows, _FrocData, _nest_metrics, _operating_points
from .matching import (
    _evaluate_image,
    _image_shape,
    _item_entries,
    _match_predictions,
    _other_splits,
    _outside,
    _unevaluated_lesion_rows,
)
from .plots import _ci, _num, _plot_froc
from .predictions import DetectionPrediction, _candidate_summary, _prediction_files

DEFAULT_LESION_TYPES = ("mass", "calcification")
REPORT_FILES = {
    "metrics": "detection_metrics.json",
    "per_lesion": "detection_per_lesion.csv",
    "per_image": "detection_per_image.csv",
    "curve": "froc_curve.csv",
    "problems": "detection_problems.csv",
    "froc": "froc.png",
}
PER_LESION_FIELDS = ("image", "patient_id", "lesion_index", "type", "pathology", "role", "rule", "image_status",
                     "hit", "score", "hit_by", "n_hits", "mask")
_BAND_POINTS = 49  # FP rates of the plotted curve and its CI band
CONVENTIONS = {
    "hit": "a candidate hits a lesion when its centre is inside the lesion's mask, else within its radius "
           "of its centre, else inside its box; a lesion's score is the highest score of the candidates "
           "hitting it; one hit per lesion (further candidates on it are not false positives)",
    "false_positive": "a candidate hitting no target and no ignored lesion; FP/image divides by every "
                      "evaluated image, with or without lesions",
    "ignored": "lesions of types other than {types} are ignored: a candidate on them is neither "
               "a true nor a false positive",
    "no_position": "target lesions without mask, centre+radius or box are left out (counted); a "
                   "candidate on them is a false positive",
    "per_type": "per-type sensitivities use that type's lesions against the same shared false positives",
    "froc": "monai.metrics.compute_froc_curve_data / compute_froc_score (CAMELYON16): linear "
            "interpolation of the curve; a rate beyond the last point (every candidate kept) reads the "
            "last sensitivity; CPM is the mean over fp_rates",
    "ties": "candidates of equal score enter together (one operating point); hit_by is the first of the "
            "highest-scoring candidates hitting the lesion",
    "missing": "images without a usable prediction file are excluded (their lesions are not counted as "
               "missed, they are not in the FP/image denominator); see counts.missing",
    "operating_points": "per rate, the lowest threshold with at most that many FP/image (score >= "
                        "threshold is a detection), its FP/image and sensitivity (not interpolated)",
}


@dataclass
class DetectionReport:
    """What :func:`evaluate_detection` computed and wrote.

    Attributes:
        images: one dict per item of the split (the ``detection_per_image.csv`` rows; ``status`` ``"ok"`` or the
            problem kind).
        lesions: one dict per lesion of the split's items (the ``detection_per_lesion.csv`` rows).
        summary: the content of ``detection_metrics.json``.
        problems: every problem met (also in ``detection_problems.csv``).
        paths: :data:`REPORT_FILES` key -> file written.
    """

    images: list[dict[str, Any]]
    lesions: list[dict[str, Any]]
    summary: dict[str, Any]
    problems: ProblemLog
    paths: dict[str, Path] = field(default_factory=dict)


def _rate_label(rate: float) -> str:
    return f"fp_at_{rate:g}"



def _check_arguments(lesion_types: Sequence[str] | str, fp_rates: Sequence[float] | float
                     ) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """Raise on bad lesion types or rates; both as tuples (the types deduplicated, the rates sorted)."""
    if isinstance(lesion_types, str):
        lesion_types = [t.strip() for t in lesion_types.split(",") if t.strip()]
    types = tuple(dict.fromkeys(str(t) for t in lesion_types))
    unknown = [t for t in types if t not in LESION_TYPES]
    if not types or unknown:
        raise ValueError(f"lesion_types must be some of {LESION_TYPES}, got {list(lesion_types)}")
    if isinstance(fp_rates, (int, float)):
        fp_rates = (fp_rates,)
    rates = tuple(sorted({float(r) for r in fp_rates}))
    if not rates or not all(math.isfinite(r) and r > 0 for r in rates):
        raise ValueError(f"fp_rates must be positive numbers, got {list(fp_rates)}")
    return types, rates


def _usable(entry: dict[str, Any], pred_dir: Path, problems: ProblemLog) -> None:
    """Set the entry's status (and ``_shape``) from its prediction file: missing, unusable, a shape mismatch or a
    candidate outside the image make it unevaluated (the problem reported)."""
    pred_file: DetectionPrediction | None = entry["_pred"]
    if entry["status"] == "ok" and pred_file is None:
        entry["status"], entry["detail"] = "missing_prediction", f"no prediction file in {pred_dir}"
        problems.add(entry["image"], "missing_prediction", entry["detail"])
    elif entry["status"] == "ok" and pred_file.kind is not None:
        entry["status"], entry["detail"] = pred_file.kind, pred_file.error or ""
        problems.add(pred_file.source, pred_file.kind, f"{pred_file.error} ({entry['image']})")
    elif entry["status"] == "ok":
        entry["_shape"], mismatch = _image_shape(entry, pred_file)
        outside = _outside(pred_file.centers, entry["_shape"])
        if mismatch or outside:
            kind = "image_shape_mismatch" if mismatch else "bad_candidate"
            entry["status"], entry["detail"] = kind, mismatch or _candidate_summary(outside)
            problems.add(pred_file.source, kind, entry["detail"])


def _evaluate_images(entries: Sequence[dict[str, Any]], types: Sequence[str], base: Path, pred_dir: Path,
                     problems: ProblemLog) -> tuple[list[dict[str, Any]], list, list, list[dict[str, Any]]]:
    """Per image: usable prediction, hits. Returns the lesion rows, each evaluated image's false-positive scores
    and ``(type, score or NaN)`` of its targets, and the evaluated entries."""
    lesion_rows: list[dict[str, Any]] = []
    fp_scores, image_lesions, evaluated = [], [], []
    for entry in entries:
        _usable(entry, pred_dir, problems)
        if entry["status"] != "ok":
            lesion_rows += _unevaluated_lesion_rows(entry, types)
            continue
        rows, roles = _evaluate_image(entry, types, base, problems)
        lesion_rows += rows
        scores = entry["_pred"].scores
        entry["_fp"] = np.sort(scores[roles == "fp"])[::-1]
        entry.update({"n_candidates": len(scores), "n_tp_candidates": int((roles == "tp").sum()),
                      "n_ignored_candidates": int((roles == "ignored").sum()), "n_fp": int((roles == "fp").sum()),
                      "n_target_lesions": sum(r["role"] == "target" for r in rows),
                      "n_lesions_hit": sum(bool(r["hit"]) for r in rows)})
        fp_scores.append(entry["_fp"])
        image_lesions.append([(r["type"], r["score"] if r["hit"] else math.nan) for r in rows
                              if r["role"] == "target"])
        evaluated.append(entry)
    return lesion_rows, fp_scores, image_lesions, evaluated


def _add_fp_columns(entries: Sequence[dict[str, Any]], operating: Mapping[str, Mapping[str, Any]],
                    rates: Sequence[float]) -> None:
    """Per image: the highest false-positive score, all of them, and how many are kept at each rate's threshold."""
    for entry in entries:
        fp = entry.get("_fp")
        entry["max_fp_score"] = float(fp[0]) if fp is not None and fp.size else None
        entry["fp_scores"] = ";".join(f"{s:.6g}" for s in fp) if fp is not None else None
        for rate in rates:
            threshold = operating.get(f"{rate:g}", {}).get("threshold")  # None: nothing is kept at that rate
            kept = 0 if threshold is None or fp is None else int((fp >= threshold).sum())
            entry[_rate_label(rate)] = None if fp is None else kept


def _counts(entries: Sequence[dict[str, Any]], evaluated: Sequence[dict[str, Any]],
            lesion_rows: Sequence[dict[str, Any]], types: Sequence[str], file_counts: dict[str, int]
            ) -> dict[str, Any]:
    """The ``counts`` of the report: images, patients, lesions by role and type, candidates, prediction files."""
    targets = [r for r in lesion_rows if r["role"] == "target" and r["image_status"] == "ok"]
    not_ok = [e for e in entries if e["status"] != "ok"]
    return {
        "images": len(entries),
        "patients": len({e["_group"] for e in entries}),
        "evaluated": len(evaluated),
        "evaluated_patients": len({e["_group"] for e in evaluated}),
        "missing": len(not_ok),
        "missing_by_reason": dict(Counter(e["status"] for e in not_ok)),
        "evaluated_without_target_lesion": sum(e["n_target_lesions"] == 0 for e in evaluated),
        "lesions": {t: sum(r["type"] == t for r in targets) for t in types},
        "lesions_hit": {t: sum(r["type"] == t and bool(r["hit"]) for r in targets) for t in types},
        "lesions_without_position": {t: n for t, n in Counter(
            r["type"] for r in lesion_rows if r["role"] == "no_position" and r["image_status"] == "ok").items()},
        "lesions_on_unevaluated_images": {t: n for t, n in Counter(
            r["type"] for r in lesion_rows if r["role"] == "target" and r["image_status"] != "ok").items()},
        "ignored_lesions": dict(Counter(r["type"] for r in lesion_rows
                                        if r["role"] == "ignored_type" and r["image_status"] == "ok")),
        "hit_rule": dict(Counter(r["rule"] for r in targets)),
        "candidates": sum(e["n_candidates"] for e in evaluated),
        "tp_candidates": sum(e["n_tp_candidates"] for e in evaluated),
        "ignored_candidates": sum(e["n_ignored_candidates"] for e in evaluated),
        "fp_candidates": sum(e["n_fp"] for e in evaluated),
        "prediction_files": file_counts,
    }


class DetectionRunner(EvaluationRunner):
    """The detection task of :class:`~mammo_monai.evaluation.runner.EvaluationRunner`: per-image candidate files
    matched to the split's items, hits per lesion (:mod:`.matching`), then the FROC (:mod:`.froc`) with patient
    bootstrap CIs overall and per lesion type. The arguments are those of :func:`evaluate_detection`."""

    task = "detection"
    report_files = REPORT_FILES

    def __init__(self, pred: str | os.PathLike, label: str | os.PathLike, out: str | os.PathLike, split: str = "test",
                 lesion_types: Sequence[str] | str = DEFAULT_LESION_TYPES, fp_rates: Sequence[float] | float = FP_RATES,
                 n_resamples: int = 2000, seed: int = 0, overwrite: bool = False) -> None:
        super().__init__(pred, label, out, split, n_resamples, seed, overwrite)
        self.lesion_types, self.fp_rates = lesion_types, fp_rates
        self.types: tuple[str, ...] = ()
        self.rates: tuple[float, ...] = ()
        self.files: list = []
        # what evaluate() finds, for write_reports() and the report
        self.entries: list[dict[str, Any]] = []
        self.lesion_rows: list[dict[str, Any]] = []
        self.images: list[dict[str, Any]] = []
        self.lesions: list[dict[str, Any]] = []

    def check_arguments(self) -> None:
        super().check_arguments()
        self.types, self.rates = _check_arguments(self.lesion_types, self.fp_rates)

    def check_inputs(self) -> None:
        super().check_inputs()
        if not self.pred.exists():
            raise FileNotFoundError(f"{self.pred}: prediction folder not found")
        if not self.pred.is_dir():
            raise NotADirectoryError(f"{self.pred}: expected a folder of per-image .json detection files")

    def prepare(self) -> None:
        self.files = _prediction_files(self.pred, {os.path.realpath(p) for p in self.paths.values()})
        if not self.files:
            raise ValueError(f"{self.pred}: no .json prediction file found")

    def settings(self) -> dict[str, Any]:
        return {"lesion_types": list(self.types), "fp_rates": list(self.rates),
                **self.bootstrap_settings("images", "figure")}

    def evaluate(self, datalist: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[str, Any]:
        types, rates, split, problems = self.types, self.rates, self.split, self.problems
        base = self.label.resolve().parent
        entries, by_key = _item_entries(datalist[split], base, self.label, split, problems)
        file_counts = _match_predictions(self.files, by_key, base, split, _other_splits(datalist, split, base),
                                         problems)
        lesion_rows, fp_scores, image_lesions, evaluated = _evaluate_images(entries, types, base, self.pred, problems)

        # the FROC with patient bootstrap CIs (every figure from the same draws)
        self.xlim = (min(rates) / 2.0, max(rates) * 2.0)
        band_rates = np.unique(np.concatenate([np.geomspace(*self.xlim, _BAND_POINTS), rates]))
        self.data = _FrocData(fp_scores, image_lesions, [_ALL, *types], rates, band_rates)
        self.flat = self.bootstrap(self.data, self.data.n_images, [e["_group"] for e in evaluated])
        fps, sensitivity, thresholds = self.data.curve(_ALL)
        operating = _operating_points(fps, sensitivity, thresholds, rates) if self.data.n_images else {}
        _add_fp_columns(entries, operating, rates)
        self.entries, self.lesion_rows = entries, lesion_rows
        return {
            "counts": _counts(entries, evaluated, lesion_rows, types, file_counts),
            "metrics": _nest_metrics(self.flat, [_ALL, *types], rates),
            "operating_points": operating,
            "conventions": {k: v.format(types=list(types)) for k, v in CONVENTIONS.items()},
        }

    def write_reports(self, summary: dict[str, Any]) -> None:
        types, paths = self.types, self.paths
        image_fields = ["image", "patient_id", "status", "detail", "prediction", "match", "n_candidates",
                        "n_target_lesions", "n_lesions_hit", "n_tp_candidates", "n_ignored_candidates", "n_fp",
                        "max_fp_score", *(_rate_label(r) for r in self.rates), "fp_scores"]
        self.images = [{k: e.get(k) for k in image_fields} for e in self.entries]
        self.lesions = [{k: r[k] for k in PER_LESION_FIELDS} for r in self.lesion_rows]
        write_csv(self.images, paths["per_image"], image_fields)
        write_csv(self.lesions, paths["per_lesion"], PER_LESION_FIELDS)
        write_csv(_curve_rows(self.data, types), paths["curve"],
                  ["threshold", "n_fp", "fp_per_image", "sensitivity", *(f"sensitivity_{t}" for t in types)])
        _plot_froc(self.data, self.flat, types, self.rates, self.xlim).save(paths["froc"])


def evaluate_detection(
    pred: str | os.PathLike,
    label: str | os.PathLike,
    out: str | os.PathLike,
    split: str = "test",
    lesion_types: Sequence[str] | str = DEFAULT_LESION_TYPES,
    fp_rates: Sequence[float] | float = FP_RATES,
    n_resamples: int = 2000,
    seed: int = 0,
    overwrite: bool = False,
) -> DetectionReport:
    """Evaluate per-image detections against a datalist split (lesion-level FROC) and write :data:`REPORT_FILES`.

    Args:
        pred: the folder of per-image prediction JSON files (the format of :mod:`mammo_monai.evaluation.detection`).
        label: the datalist JSON; lesions from the items' ``lesions``, patients from ``patient_id``.
        out: the report folder (created when missing).
        split: the split of ``label`` that ``pred`` holds detections for.
        lesion_types: the target lesion types (others are ignored); a list or a comma-separated string.
        fp_rates: the FP/image rates of the sensitivities and their mean (CPM).
        n_resamples: bootstrap draws for the 95% CIs (resampling patients).
        seed: bootstrap seed (the same draws for every figure).
        overwrite: replace existing report files (otherwise ``FileExistsError`` before any work).

    Returns:
        a :class:`DetectionReport`.

    Raises:
        FileNotFoundError / NotADirectoryError / ValueError: a missing input, ``pred`` not a folder or without
            any ``.json`` file, an empty split, a bad argument, a report file that would replace the datalist.
        FileExistsError: a report file exists and ``overwrite`` is False.
    """
    runner = DetectionRunner(pred, label, out, split, lesion_types, fp_rates, n_resamples, seed, overwrite)
    summary = runner.run()
    return DetectionReport(images=runner.images, lesions=runner.lesions, summary=summary, problems=runner.problems,
                           paths=runner.paths)


def format_detection_summary(report: DetectionReport) -> str:
    """A few lines for a terminal: counts, the sensitivity at each FP rate and CPM with their CIs (overall and
    per lesion type), problems, files.

    Example output::

        detection of mass, calcification: evaluated 40 of 42 images (20 patients); missing 2 (missing_prediction: 2)
        target lesions 42 (mass 30, calcification 12); without position 3 (left out); ignored 2
        candidates 812: 39 on targets, 3 on ignored lesions, 770 false positives (19.25 per image)
        FP/image  all (42)               mass (30)              calcification (12)
        0.125     0.310 [0.200, 0.410]   ...
        CPM       0.612 [0.540, 0.690]   ...
    """
    s = report.summary
    counts, m = s["counts"], s["metrics"]
    types = s["settings"]["lesion_types"]
    missing = ", ".join(f"{k}: {v}" for k, v in counts["missing_by_reason"].items())
    lesions = counts["lesions"]
    no_position = sum(counts["lesions_without_position"].values())
    ignored = sum(counts["ignored_lesions"].values())
    fp_per_image = m["all"]["fp_per_image"]["estimate"]
    lines = [f"detection of {', '.join(types)}: evaluated {counts['evaluated']} of {counts['images']} images "
             f"({counts['evaluated_patients']} patients); missing {counts['missing']}"
             + (f" ({missing})" if missing else ""),
             f"target lesions {sum(lesions.values())} (" + ", ".join(f"{t} {n}" for t, n in lesions.items())
             + f"); without position {no_position} (left out); ignored {ignored}",
             f"candidates {counts['candidates']}: {counts['tp_candidates']} on targets, {counts['ignored_candidates']} "
             f"on ignored lesions, {counts['fp_candidates']} false positives ({_num(fp_per_image)} per image)"]
    groups = [("all", m["all"], sum(lesions.values()))] + [(t, m["by_type"][t], lesions[t]) for t in types]
    width = 24
    lines.append(f"{'FP/image':<10}" + "".join(f"{f'{name} ({n})':<{width}}" for name, _, n in groups).rstrip())
    for rate in s["settings"]["fp_rates"]:
        cells = [g["sensitivity"][f"{rate:g}"] for _, g, _ in groups]
        lines.append(f"{rate:<10g}" + "".join(f"{_num(c['estimate']) + ' ' + _ci(c):<{width}}"
                                              for c in cells).rstrip())
    lines.append(f"{'CPM':<10}" + "".join(f"{_num(g['cpm']['estimate']) + ' ' + _ci(g['cpm']):<{width}}"
                                          for _, g, _ in groups).rstrip())
    lines.append(f"{'hit (any)':<10}" + "".join(f"{_num(g['max_sensitivity']['estimate']):<{width}}"
                                                for _, g, _ in groups).rstrip())
    lines += format_problems_and_files(report.problems, report.paths)
    return "\n".join(lines)
