"""The segmentation evaluator's runner (the I/O): :func:`evaluate_segmentation` reads the masks and a datalist,
computes the metrics with :mod:`.metrics` and writes :data:`REPORT_FILES`; :func:`format_segmentation_summary`
prints it."""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...data.problems import ProblemLog
from ...data.schema import IMAGE, LABEL, PATHOLOGIES, PATHOLOGY, PATIENT_ID
from ..inputs import file_stem, image_shape_and_spacing, read_mask, resolve_datalist_path
from ..report import write_csv
from ..runner import EvaluationRunner, format_problems_and_files
from .matching import PRED, _load_pred_datalist, match_prediction_folder
from .metrics import METRICS, _spacing_pair, _summarise_subset, binarize_prediction, segmentation_metrics
from .overlays import _overlay_sheet

CSV_FIELDS = ("image", "patient_id", "pathology", "status", "dice", "iou", "hd95_px", "hd95_mm",
              "tp", "fp", "fn", "gt_empty", "pred_empty", "label", "pred", "match")
REPORT_FILES = {
    "metrics": "segmentation_metrics.csv",
    "summary": "segmentation_summary.json",
    "problems": "segmentation_problems.csv",
    "overlays": "segmentation_overlays.png",
}
CONVENTIONS = {
    "both_empty": "dice 1, iou 1, hd95 0",
    "one_empty": "dice 0, iou 0, hd95 NaN (left out of hd95 mean/median, counted in n_nan)",
    "missing": "images without a usable prediction are excluded, not scored 0 (see counts.missing)",
    "subsets": "all: every evaluated image; lesion: ground truth non-empty; by_pathology: item pathology",
}


@dataclass
class SegmentationReport:
    """What :func:`evaluate_segmentation` computed and wrote.

    Attributes:
        rows: one dict per datalist item (the CSV rows; ``status`` is ``"ok"`` or the problem kind).
        summary: the JSON summary (metrics with CIs, counts, settings, problems).
        problems: every problem met (also in ``segmentation_problems.csv``).
        paths: ``{"metrics", "summary", "problems", "overlays"}`` -> file written (no ``overlays`` when
            ``overlays=0``).
    """

    rows: list[dict[str, Any]]
    summary: dict[str, Any]
    problems: ProblemLog
    paths: dict[str, Path] = field(default_factory=dict)


def _match_items(pred_path: Path, images: Sequence[str | None], problems: ProblemLog
                 ) -> list[tuple[str | None, str | None]]:
    """Per image ``(predicted mask file or None, match kind or None)``: from a folder by file stem (an image
    whose stem another image of the split shares gets ``(None, "ambiguous_stem")``), or from a datalist."""
    if not pred_path.is_dir():
        mapping = _load_pred_datalist(pred_path, problems)
        return [(mapping.get(image), "datalist") if image else (None, None) for image in images]
    preds: list[tuple[str | None, str | None]] = []
    stems = [file_stem(image) if image else "" for image in images]
    stem_counts = Counter(stems)
    found = match_prediction_folder(pred_path, sorted({s for s in stems if s and stem_counts[s] == 1}))
    for image, stem in zip(images, stems):
        if image is None:
            preds.append((None, None))
        elif stem_counts[stem] > 1:
            preds.append((None, "ambiguous_stem"))
        else:
            file, kind, ties = found[stem]
            if ties:
                problems.add(file, "ambiguous_prediction", f"{len(ties)} other file(s) also match {stem!r} "
                             f"({kind}), e.g. {ties[0]}; this one is used")
            preds.append((str(file) if file else None, kind))
    return preds


def _score_row(row: dict[str, Any], where: str, images: Sequence[str | None], split: str, pred_path: Path,
               threshold: float, fixed_spacing: tuple[float, float] | None, problems: ProblemLog) -> None:
    """Read one image's truth and prediction and add its metrics to ``row``; on a problem, report it and set
    ``row["status"]`` to its kind."""
    image, label_file, pred_file = row["image"], row["label"], row["pred"]

    def fail(path: Any, kind: str, detail: str) -> None:
        problems.add(path, kind, detail)
        row["status"] = kind

    if image is None:
        return fail(where, "missing_image_path", f"item has no {IMAGE!r}")
    if row["patient_id"] in (None, ""):
        problems.add(image, "missing_patient_id", "the image is its own patient in the bootstrap")
    if row["_match"] == "ambiguous_stem":
        return fail(image, "ambiguous_stem", f"{Counter(file_stem(i) for i in images if i)[file_stem(image)]} "
                    f"images of split {split!r} share the stem {file_stem(image)!r}; give a datalist with {PRED!r} "
                    "keys")
    if pred_file is None:
        return fail(image, "missing_prediction", f"no predicted mask in {pred_path}")
    image_spacing = fixed_spacing
    shape = None
    try:
        shape, header_spacing = image_shape_and_spacing(Path(image), need_shape=label_file is None)
        image_spacing = image_spacing or header_spacing
    except Exception as e:
        if label_file is None:
            return fail(image, "unreadable_image", f"cannot read its size for an all-zero ground truth: {e}")
    try:
        gt = read_mask(label_file) != 0 if label_file else np.zeros(shape, bool)
    except Exception as e:
        return fail(label_file, "unreadable_label", f"{type(e).__name__}: {e}")
    try:
        raw = read_mask(pred_file)
    except Exception as e:
        return fail(pred_file, "unreadable_prediction", f"{type(e).__name__}: {e}")
    if raw.shape != gt.shape:
        hint = " (transposed: saved with (cols, rows) indexing?)" if raw.shape == gt.shape[::-1] else ""
        source = "label" if label_file else "image"
        return fail(pred_file, "size_mismatch", f"prediction {raw.shape} vs {source} {gt.shape} of {image}{hint}")
    try:
        mask = binarize_prediction(raw, threshold)
    except ValueError as e:
        return fail(pred_file, "bad_prediction_values", str(e))
    row.update(segmentation_metrics(mask, gt, spacing=image_spacing))
    row["_spacing"] = image_spacing
    return None


def _counts(rows: Sequence[dict[str, Any]], ok: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {
        "images": len(rows),
        "patients": len({r["_group"] for r in rows}),
        "evaluated": len(ok),
        "missing": len(rows) - len(ok),
        "missing_by_reason": dict(Counter(r["status"] for r in rows if r["status"] != "ok")),
        "gt_empty": sum(bool(r["gt_empty"]) for r in ok),
        "pred_empty": sum(bool(r["pred_empty"]) for r in ok),
        "both_empty": sum(bool(r["gt_empty"] and r["pred_empty"]) for r in ok),
        "false_positive": sum(bool(r["gt_empty"] and not r["pred_empty"]) for r in ok),
        "missed": sum(bool(r["pred_empty"] and not r["gt_empty"]) for r in ok),
        "hd95_undefined": sum(math.isnan(r["hd95_px"]) for r in ok),
        "with_spacing": sum(r["_spacing"] is not None for r in ok),
    }


class SegmentationRunner(EvaluationRunner):
    """The segmentation task of :class:`~mammo_monai.evaluation.runner.EvaluationRunner`: masks matched to the
    split's images, :func:`segmentation_metrics` per image, the mean and median of each metric with patient
    bootstrap CIs per subset. The arguments are those of :func:`evaluate_segmentation`."""

    task = "segmentation"
    report_files = REPORT_FILES
    summary_file = "summary"
    list_files = False

    def __init__(self, pred: str | os.PathLike, label: str | os.PathLike, out: str | os.PathLike, split: str = "test",
                 threshold: float = 0.5, spacing: float | Sequence[float] | None = None, n_resamples: int = 2000,
                 seed: int = 0, overlays: int = 4, overwrite: bool = False) -> None:
        super().__init__(pred, label, out, split, n_resamples, seed, overwrite)
        self.threshold, self.spacing, self.overlays = threshold, spacing, overlays
        self.fixed_spacing: tuple[float, float] | None = None
        self.report_files = {k: v for k, v in REPORT_FILES.items() if k != "overlays" or overlays}
        self.rows: list[dict[str, Any]] = []

    def check_arguments(self) -> None:
        super().check_arguments()
        if not 0.0 <= float(self.threshold) <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {self.threshold}")
        if int(self.overlays) < 0:
            raise ValueError(f"overlays must be >= 0, got {self.overlays}")
        self.fixed_spacing = _spacing_pair(self.spacing)

    def check_inputs(self) -> None:
        super().check_inputs()
        if not self.pred.exists():
            raise FileNotFoundError(f"{self.pred}: prediction folder or datalist not found")
        if not self.pred.is_dir() and self.pred.suffix.lower() != ".json":
            raise ValueError(f"{self.pred}: expected a folder of masks or a datalist .json with {PRED!r} keys")

    def input_details(self) -> dict[str, Any]:
        return {"pred_kind": "folder" if self.pred.is_dir() else "datalist"}

    def settings(self) -> dict[str, Any]:
        return {"threshold": float(self.threshold),
                "spacing": list(self.fixed_spacing) if self.fixed_spacing else None,
                **self.bootstrap_settings("images"), "overlays": int(self.overlays)}

    def versions(self) -> dict[str, str]:
        return {**super().versions(), "torch": torch.__version__}

    def evaluate(self, datalist: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[str, Any]:
        items, label_path, split = datalist[self.split], self.label, self.split
        base = label_path.parent
        images = [resolve_datalist_path(item.get(IMAGE), base) for item in items]
        preds = _match_items(self.pred, images, self.problems)
        for n, (item, image, (pred_file, match)) in enumerate(zip(items, images, preds)):
            patient = item.get(PATIENT_ID)
            row: dict[str, Any] = {
                "image": image, "patient_id": patient, "pathology": item.get(PATHOLOGY), "status": "ok",
                **dict.fromkeys(METRICS, float("nan")), "tp": None, "fp": None, "fn": None,
                "gt_empty": None, "pred_empty": None, "label": resolve_datalist_path(item.get(LABEL), base),
                "pred": pred_file, "match": match if pred_file else None, "_match": match,
                "_group": patient if patient not in (None, "") else f"image:{image}",
            }
            self.rows.append(row)
            _score_row(row, f"{label_path}#{split}[{n}]", images, split, self.pred, self.threshold,
                       self.fixed_spacing, self.problems)
        ok = [r for r in self.rows if r["status"] == "ok"]
        n_resamples, seed = self.n_resamples, self.seed
        return {
            "conventions": dict(CONVENTIONS),
            "counts": _counts(self.rows, ok),
            "metrics": {"all": _summarise_subset(ok, n_resamples, seed),
                        "lesion": _summarise_subset([r for r in ok if not r["gt_empty"]], n_resamples, seed)},
            "by_pathology": {p: _summarise_subset([r for r in ok if r["pathology"] == p], n_resamples, seed)
                             for p in PATHOLOGIES if any(r["pathology"] == p for r in ok)},
        }

    def write_reports(self, summary: dict[str, Any]) -> None:
        write_csv(self.rows, self.paths["metrics"], CSV_FIELDS)
        if self.overlays:
            _overlay_sheet(self.rows, int(self.overlays), float(self.threshold)).save(self.paths["overlays"])
            summary["overlays"] = str(self.paths["overlays"])


def evaluate_segmentation(
    pred: str | os.PathLike,
    label: str | os.PathLike,
    out_dir: str | os.PathLike,
    split: str = "test",
    threshold: float = 0.5,
    spacing: float | Sequence[float] | None = None,
    n_resamples: int = 2000,
    seed: int = 0,
    overlays: int = 4,
    overwrite: bool = False,
) -> SegmentationReport:
    """Evaluate predicted masks against a datalist split and write the report files into ``out_dir``.

    Args:
        pred: a folder of predicted masks (matched to the images by file stem, see
            :func:`match_prediction_folder`), or a datalist JSON whose items have a ``pred`` key (matched
            to the ``label`` datalist's items by ``image`` path; relative paths are taken from the JSON's
            folder). Masks may be 0/1, 0/255 or probabilities, PNG/TIFF/PGM/NIfTI/DICOM/``.npy``.
        label: the datalist JSON with the ground truth; an item without ``label`` is an image without a
            lesion (all-zero truth of the image's size, read from its header).
        out_dir: where the report files (:data:`REPORT_FILES`) go; created when missing.
        split: which split of ``label`` to evaluate (``"training"``, ``"validation"``, ``"test"``).
        threshold: predictions ``>= threshold`` (on a 0..1 scale, see :func:`binarize_prediction`) are
            foreground.
        spacing: pixel spacing in mm (one number or ``(row, col)``) for ``hd95_mm``; default the
            image's DICOM pixel spacing where it has one (otherwise ``hd95_mm`` is empty).
        n_resamples: bootstrap draws for the 95% CIs (resampling patients).
        seed: bootstrap seed (the same for every metric, so they share their draws).
        overlays: how many worst and how many best images (by Dice) to draw; 0: no PNG.
        overwrite: replace existing report files (otherwise ``FileExistsError`` before any work).

    Returns:
        a :class:`SegmentationReport`.

    Raises:
        FileNotFoundError / ValueError: ``pred`` or ``label`` missing or not what is expected, an empty
            split, a bad argument.
        FileExistsError: a report file exists and ``overwrite`` is False.

    Problems (reported in ``segmentation_problems.csv`` and the summary, the image counted as missing,
    the rest evaluated): ``missing_prediction``, ``ambiguous_stem`` (two images of the split share a file
    stem, so a folder cannot tell them apart), ``unreadable_prediction``, ``unreadable_label``,
    ``unreadable_image`` (only when no label gives the size), ``bad_prediction_values``,
    ``size_mismatch``, ``missing_image_path``. Not fatal and not counted as missing:
    ``ambiguous_prediction`` (several files matched; the first is used) and ``missing_patient_id`` (the
    image is then its own patient in the bootstrap).
    """
    runner = SegmentationRunner(pred, label, out_dir, split, threshold, spacing, n_resamples, seed, overlays, overwrite)
    summary = runner.run()
    public_rows = [{k: v for k, v in r.items() if not k.startswith("_")} for r in runner.rows]
    return SegmentationReport(rows=public_rows, summary=summary, problems=runner.problems, paths=runner.paths)


def format_segmentation_summary(report: SegmentationReport) -> str:
    """A few lines for a terminal: counts, mean and median of each metric with their CIs, problems, files.

    Example output::

        evaluated 30 of 32 images (16 patients); missing 2 (missing_prediction: 2)
        lesion (12 images, 11 patients)
          dice     mean 0.704 [0.622, 0.797]   median 0.757 [0.645, 0.854]   n=12
        ...
    """
    s = report.summary
    counts = s["counts"]

    def num(x: Any) -> str:
        return "-" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.3f}"

    missing = ", ".join(f"{k}: {v}" for k, v in counts["missing_by_reason"].items())
    lines = [f"evaluated {counts['evaluated']} of {counts['images']} images ({counts['patients']} patients); "
             f"missing {counts['missing']}" + (f" ({missing})" if missing else "")]
    subsets = [(name, s["metrics"][name]) for name in ("lesion", "all")]
    subsets += [(f"pathology={name}", summary) for name, summary in s["by_pathology"].items()]
    for name, subset in subsets:
        lines.append(f"{name} ({subset['images']} images, {subset['patients']} patients)")
        for metric in METRICS:
            m = subset[metric]
            if m["n"] == 0 and metric == "hd95_mm":
                continue
            lines.append(f"  {metric:<8} mean {num(m['mean'])} [{num(m['mean_ci'][0])}, {num(m['mean_ci'][1])}]"
                         f"   median {num(m['median'])} [{num(m['median_ci'][0])}, {num(m['median_ci'][1])}]"
                         f"   n={m['n']}" + (f" ({m['n_nan']} undefined)" if m["n_nan"] else ""))
    lines.append(f"empty masks: both {counts['both_empty']}, false positive {counts['false_positive']}, "
                 f"missed {counts['missed']}; hd95 undefined for {counts['hd95_undefined']}")
    lines += format_problems_and_files(report.problems, report.paths)
    return "\n".join(lines)
