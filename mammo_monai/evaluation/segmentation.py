"""Segmentation evaluation: Dice, IoU and HD95 per image, summarised with patient-level bootstrap CIs.

``evaluate_segmentation(pred, label, out_dir)`` matches predicted masks to the items of a datalist
split, computes per-image metrics with :mod:`monai.metrics` (``compute_dice``, ``compute_iou``,
``compute_hausdorff_distance(percentile=95)``), summarises them (mean and median with percentile
bootstrap 95% CIs resampled by patient, over all images, over the images with a lesion, and per
pathology) and writes ``segmentation_metrics.csv``, ``segmentation_summary.json``,
``segmentation_problems.csv`` and ``segmentation_overlays.png`` into ``out_dir``.

Empty-mask conventions (per image; MONAI's ``ignore_empty=False`` behaviour for Dice/IoU):

=====================  =====  =====  ==========================================
ground truth / pred    Dice   IoU    HD95 (px and mm)
=====================  =====  =====  ==========================================
both empty             1      1      0 (a correct "no lesion"; mm 0 only with a spacing)
truth empty, pred not  0      0      NaN (undefined: no surface to measure to)
truth not, pred empty  0      0      NaN
both non-empty         MONAI  MONAI  MONAI, 95th percentile of symmetric surface distances
=====================  =====  =====  ==========================================

HD95 NaNs are left out of its mean/median and counted (``n_nan``, ``counts.hd95_undefined``), so read
HD95 together with the ``missed`` and ``false_positive`` counts. The ``all`` summary includes images
without a lesion (their Dice is 1 when nothing is predicted, 0 when something is); the ``lesion``
summary (ground truth non-empty) is the usual figure for lesion segmentation. Images whose prediction
is missing or unusable are *not* counted as Dice 0: they are reported as problems, listed in the CSV
with their ``status`` and counted in ``counts.missing``.

Example:
    >>> label = np.zeros((10, 10), bool); label[2:6, 2:6] = True
    >>> pred = np.zeros((10, 10), bool); pred[2:6, 3:7] = True
    >>> m = segmentation_metrics(pred, label, spacing=0.5)
    >>> m["dice"], round(m["iou"], 3), m["hd95_px"], m["hd95_mm"], (m["tp"], m["fp"], m["fn"])
    (0.75, 0.6, 1.0, 0.5, (12, 4, 4))
    >>> r = evaluate_segmentation("preds/", "datalist.json", "report/")  # doctest: +SKIP
    >>> dice = r.summary["metrics"]["lesion"]["dice"]  # doctest: +SKIP
    >>> dice["mean"], dice["mean_ci"]  # doctest: +SKIP
    (0.71, [0.66, 0.75])
"""

from __future__ import annotations

import math
import os
import warnings
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai import __version__ as monai_version
from monai.metrics import compute_dice, compute_hausdorff_distance, compute_iou

from .. import __version__
from ..data.problems import ProblemLog
from ..data.schema import (
    IMAGE,
    LABEL,
    PATHOLOGIES,
    PATHOLOGY,
    PATIENT_ID,
    SPLITS,
    ensure_outside_inputs,
    ensure_writable,
    load_datalist,
)
from .bootstrap import bootstrap_ci
from .inputs import MASK_SUFFIXES, file_stem, image_shape_and_spacing, mask_suffix, read_mask, resolve_datalist_path
from .report import CAPTION_HEIGHT, GT_COLOUR, PRED_COLOUR, render_overlay, tile_grid, write_csv, write_json

__all__ = [
    "CSV_FIELDS",
    "MASK_SUFFIXES",
    "METRICS",
    "PRED",
    "REPORT_FILES",
    "SegmentationReport",
    "binarize_prediction",
    "evaluate_segmentation",
    "file_stem",
    "format_segmentation_summary",
    "match_prediction_folder",
    "read_mask",
    "segmentation_metrics",
]

#: the datalist key of a predicted mask (a datalist given as ``pred``)
PRED = "pred"
METRICS = ("dice", "iou", "hd95_px", "hd95_mm")
CSV_FIELDS = ("image", "patient_id", "pathology", "status", "dice", "iou", "hd95_px", "hd95_mm",
              "tp", "fp", "fn", "gt_empty", "pred_empty", "label", "pred", "match")
REPORT_FILES = {
    "metrics": "segmentation_metrics.csv",
    "summary": "segmentation_summary.json",
    "problems": "segmentation_problems.csv",
    "overlays": "segmentation_overlays.png",
}
#: how a folder file matches an image stem, best first
_MATCH_KINDS = ("exact", "_seg", "_pred", "subfolder")
_TILE = 256
_MAX_LISTED_PROBLEMS = 100  # problems listed in the JSON summary (all of them are in the CSV)
_CONFIDENCE = 0.95


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


# ----------------------------------------------------------------------------------------------- files


def match_prediction_folder(
    root: str | os.PathLike, stems: Sequence[str]
) -> dict[str, tuple[Path | None, str | None, list[Path]]]:
    """Find each image stem's predicted mask under ``root`` (searched recursively).

    A file matches stem ``S`` when its name is ``S.<ext>`` (``exact``), ``S_seg.<ext>`` (``_seg``) or
    ``S_pred.<ext>`` (``_pred``), or when it lies anywhere under a folder named ``S`` (``subfolder``),
    ``<ext>`` one of :data:`MASK_SUFFIXES`. The best kind wins (in that order), then the shallowest
    file, then the suffix order of :data:`MASK_SUFFIXES`, then the path. MONAI ``SaveImage`` output
    (``<out>/<stem>/<stem>_seg.nii.gz``) thus matches as ``_seg``.

    Returns:
        ``{stem: (file or None, match kind or None, other files of the same kind and depth)}``; a
        non-empty third element means the choice was ambiguous.

    Example:
        >>> import tempfile
        >>> scratch = tempfile.TemporaryDirectory(); root = Path(scratch.name); (root / "mdb001").mkdir()
        >>> (root / "mdb001" / "mdb001_seg.nii.gz").touch(); (root / "mdb002.png").touch()
        >>> found = match_prediction_folder(root, ["mdb001", "mdb002", "mdb003"])
        >>> [(s, f and f.name, kind) for s, (f, kind, _) in found.items()]
        [('mdb001', 'mdb001_seg.nii.gz', '_seg'), ('mdb002', 'mdb002.png', 'exact'), ('mdb003', None, None)]
        >>> scratch.cleanup()
    """
    root = Path(root)
    wanted = set(stems)
    candidates: dict[str, list[tuple[int, int, int, str, Path]]] = defaultdict(list)
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        rel_parts = Path(dirpath).relative_to(root).parts
        depth = len(rel_parts)
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            path = Path(dirpath) / name
            suffix = mask_suffix(path)
            if suffix is None:
                continue
            order = MASK_SUFFIXES.index(suffix)
            stem = name[: -len(suffix)]
            keys = [(stem, 0)]
            for tag, kind in (("_seg", 1), ("_pred", 2)):
                if stem.endswith(tag):
                    keys.append((stem[: -len(tag)], kind))
            keys += [(folder, 3) for folder in rel_parts]
            for key, kind in keys:
                if key in wanted:
                    candidates[key].append((kind, depth, order, str(path), path))
    found: dict[str, tuple[Path | None, str | None, list[Path]]] = {}
    for stem in stems:
        options = sorted(candidates.get(stem, []))
        if not options:
            found[stem] = (None, None, [])
            continue
        best = options[0]
        ties = [o[4] for o in options[1:] if o[:2] == best[:2] and o[4] != best[4]]
        found[stem] = (best[4], _MATCH_KINDS[best[0]], ties)
    return found


def binarize_prediction(array: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """A predicted mask or probability map -> boolean mask (``value >= threshold`` on a 0..1 scale).

    The scale is read from the data: booleans as they are; values within [0, 1] (probabilities or 0/1
    masks) as they are; otherwise a maximum up to 255 means 0..255 data (0/255 masks, 8-bit
    probabilities) and, for integer data, up to 65535 means 0..65535; anything else (negative values,
    NaN, larger values: logits?) is refused.

    Raises:
        ValueError: the values fit none of those scales.

    Example:
        >>> binarize_prediction(np.array([[0, 255], [100, 200]], np.uint8)).tolist()
        [[False, True], [False, True]]
        >>> binarize_prediction(np.array([0.2, 0.7])).tolist()
        [False, True]
    """
    array = np.asarray(array)
    if array.dtype == bool:
        return array
    if array.size == 0:
        return np.zeros(array.shape, bool)
    lo, hi = float(np.min(array)), float(np.max(array))
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo < 0:
        raise ValueError(f"values in [{lo}, {hi}]: expected probabilities in [0, 1] or a 0..255 / 0..65535 mask")
    if hi <= 1.0:
        scale = 1.0
    elif hi <= 255.0:
        scale = 255.0
    elif np.issubdtype(array.dtype, np.integer) and hi <= 65535:
        scale = 65535.0
    else:
        raise ValueError(f"values up to {hi}: expected probabilities in [0, 1] or a 0..255 / 0..65535 mask")
    return array >= threshold * scale


# --------------------------------------------------------------------------------------------- metrics


def _spacing_pair(spacing: float | Sequence[float] | None) -> tuple[float, float] | None:
    if spacing is None:
        return None
    values = [float(spacing)] * 2 if np.isscalar(spacing) else [float(s) for s in spacing]  # type: ignore[union-attr]
    if len(values) != 2 or not all(v > 0 and math.isfinite(v) for v in values):
        raise ValueError(f"spacing must be one positive number or (row mm, col mm), got {spacing!r}")
    return values[0], values[1]


def segmentation_metrics(
    pred: np.ndarray, label: np.ndarray, spacing: float | Sequence[float] | None = None
) -> dict[str, Any]:
    """Dice, IoU, HD95 and pixel counts of one binary prediction against its ground truth.

    Non-zero means foreground in both arrays. The conventions for empty masks are those of the module
    docstring. ``spacing`` (mm, one number or ``(row, col)``) adds ``hd95_mm`` (NaN without it).
    Computed by :mod:`monai.metrics` on the bounding box of both masks plus one pixel (identical
    results, much faster on full-field mammograms).

    Returns:
        ``{"dice", "iou", "hd95_px", "hd95_mm", "tp", "fp", "fn", "gt_empty", "pred_empty"}``.

    Raises:
        ValueError: the shapes differ, or a bad ``spacing``.

    Example:
        >>> empty = np.zeros((4, 4), bool); one = empty.copy(); one[1, 1] = True
        >>> [segmentation_metrics(p, g)["dice"] for p, g in [(empty, empty), (one, empty), (empty, one)]]
        [1.0, 0.0, 0.0]
    """
    pred = np.asarray(pred) != 0
    label = np.asarray(label) != 0
    if pred.shape != label.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from ground truth shape {label.shape}")
    pair = _spacing_pair(spacing)
    tp = int(np.count_nonzero(pred & label))
    fp = int(np.count_nonzero(pred)) - tp
    fn = int(np.count_nonzero(label)) - tp
    gt_empty, pred_empty = tp + fn == 0, tp + fp == 0
    out: dict[str, Any] = {"tp": tp, "fp": fp, "fn": fn, "gt_empty": gt_empty, "pred_empty": pred_empty}
    if gt_empty and pred_empty:
        return {"dice": 1.0, "iou": 1.0, "hd95_px": 0.0, "hd95_mm": 0.0 if pair else float("nan"), **out}
    if gt_empty or pred_empty:
        return {"dice": 0.0, "iou": 0.0, "hd95_px": float("nan"), "hd95_mm": float("nan"), **out}

    rows, cols = np.nonzero(pred | label)
    r0, r1 = max(int(rows.min()) - 1, 0), min(int(rows.max()) + 2, pred.shape[0])
    c0, c1 = max(int(cols.min()) - 1, 0), min(int(cols.max()) + 2, pred.shape[1])
    y_pred = torch.from_numpy(np.ascontiguousarray(pred[r0:r1, c0:c1]))[None, None].double()
    y = torch.from_numpy(np.ascontiguousarray(label[r0:r1, c0:c1]))[None, None].double()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*always_return_as_numpy.*")
        dice = float(compute_dice(y_pred, y, include_background=True, ignore_empty=False)[0, 0])
        iou = float(compute_iou(y_pred, y, include_background=True, ignore_empty=False)[0, 0])
        hd_px = float(compute_hausdorff_distance(y_pred, y, include_background=True, percentile=95)[0, 0])
        hd_mm = float("nan")
        if pair is not None:
            hd_mm = float(compute_hausdorff_distance(y_pred, y, include_background=True, percentile=95,
                                                     spacing=list(pair))[0, 0])
    return {"dice": dice, "iou": iou, "hd95_px": hd_px, "hd95_mm": hd_mm, **out}


# ---------------------------------------------------------------------------------------------- inputs


def _load_pred_datalist(path: Path, problems: ProblemLog) -> dict[str, str]:
    """``{normalised image path: pred path}`` from every split of a datalist whose items have ``pred``."""
    datalist = load_datalist(path)
    base = path.parent
    mapping: dict[str, str] = {}
    for split in SPLITS:
        for item in datalist[split]:
            image, pred = resolve_datalist_path(item.get(IMAGE), base), resolve_datalist_path(item.get(PRED), base)
            if image is None or pred is None:
                continue
            if image in mapping and mapping[image] != pred:
                problems.add(image, "ambiguous_prediction",
                             f"{path.name} lists two predictions: {mapping[image]} (used) and {pred}")
                continue
            mapping[image] = pred
    if not mapping:
        raise ValueError(f"{path}: no item has a {PRED!r} key; expected a datalist of predictions or a folder")
    return mapping


# ------------------------------------------------------------------------------------------------- main


def _summarise_subset(rows: Sequence[Mapping[str, Any]], n_resamples: int, seed: int) -> dict[str, Any]:
    groups = [r["_group"] for r in rows]
    out: dict[str, Any] = {"images": len(rows), "patients": len(set(groups))}
    for metric in METRICS:
        values = np.array([r[metric] for r in rows], dtype=float)
        entry: dict[str, Any] = {}
        for stat in ("mean", "median"):
            ci = bootstrap_ci(values, groups, statistic=stat, n_resamples=n_resamples, confidence=_CONFIDENCE,
                              seed=seed)
            entry[stat] = ci["estimate"]
            entry[f"{stat}_ci"] = [ci["low"], ci["high"]]
        out[metric] = {**entry, "n": ci["n"], "n_nan": ci["n_nan"], "n_patients": ci["n_groups"]}
    return out


def _overlay_sheet(rows: Sequence[Mapping[str, Any]], k: int, threshold: float) -> Any:
    """The worst and best ``k`` images by Dice (ties: larger HD95 is worse), as a PIL image of
    ``k * 256`` by ``CAPTION_HEIGHT + 2 * (256 + CAPTION_HEIGHT)`` pixels."""
    from PIL import Image, ImageDraw, ImageFont

    from ..io import read_mammogram

    shown = [r for r in rows if r["status"] == "ok" and not (r["gt_empty"] and r["pred_empty"])]

    def badness(r: Mapping[str, Any]) -> tuple[float, float, str]:
        hd = r["hd95_px"]
        return r["dice"], -(hd if math.isfinite(hd) else math.inf), r["image"]

    ranked = sorted(shown, key=badness)
    worst = ranked[:k]
    worst_ids = {id(r) for r in worst}
    best = [r for r in reversed(ranked) if id(r) not in worst_ids][:k]
    tile_rows = []
    for label_text, chosen in (("worst", worst), ("best", best)):
        tiles = []
        for i, r in enumerate(chosen, 1):
            try:
                pred = binarize_prediction(read_mask(r["pred"]), threshold)
                gt = read_mask(r["label"]) != 0 if r["label"] else np.zeros(pred.shape, bool)
            except Exception:  # read fine a moment ago; a file changed under us: leave the tile out
                continue
            try:
                image = read_mammogram(r["image"])[0]
            except Exception:
                image = None
            if image is not None and image.shape != gt.shape:
                image = None
            caption = f"{label_text} {i}: {file_stem(r['image'])} Dice {r['dice']:.3f}"
            tiles.append(render_overlay(image, [(gt, GT_COLOUR), (pred, PRED_COLOUR)], caption, size=_TILE,
                                        shape=gt.shape))
        tile_rows.append(tiles)
    grid = tile_grid(tile_rows, (_TILE, _TILE + CAPTION_HEIGHT))
    sheet = Image.new("RGB", (k * _TILE, CAPTION_HEIGHT + 2 * (_TILE + CAPTION_HEIGHT)), (40, 40, 40))
    sheet.paste(grid.crop((0, 0, min(grid.width, sheet.width), min(grid.height, sheet.height - CAPTION_HEIGHT))),
                (0, CAPTION_HEIGHT))
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    legend = "top: worst, bottom: best by Dice   green: ground truth   red: prediction"
    if not shown:
        legend = "no image with a lesion or a prediction to show"
    draw.text((2, 2), legend, fill=(255, 255, 255), font=font)
    return sheet


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
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if not 0.0 <= float(threshold) <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")
    if int(overlays) < 0:
        raise ValueError(f"overlays must be >= 0, got {overlays}")
    fixed_spacing = _spacing_pair(spacing)
    pred_path, label_path, out_dir = Path(pred), Path(label), Path(out_dir)
    if not label_path.is_file():
        raise FileNotFoundError(f"{label_path}: label datalist not found")
    if not pred_path.exists():
        raise FileNotFoundError(f"{pred_path}: prediction folder or datalist not found")
    if not pred_path.is_dir() and pred_path.suffix.lower() != ".json":
        raise ValueError(f"{pred_path}: expected a folder of masks or a datalist .json with {PRED!r} keys")
    ensure_outside_inputs(out_dir, pred_path, label_path)
    paths = {key: out_dir / name for key, name in REPORT_FILES.items() if key != "overlays" or overlays}
    for path in paths.values():
        ensure_writable(path, overwrite)

    problems = ProblemLog()
    items = load_datalist(label_path)[split]
    if not items:
        raise ValueError(f"{label_path}: split {split!r} has no item to evaluate")
    base = label_path.parent

    # ---- match predictions to items
    images = [resolve_datalist_path(item.get(IMAGE), base) for item in items]
    preds: list[tuple[str | None, str | None]] = []
    if pred_path.is_dir():
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
    else:
        mapping = _load_pred_datalist(pred_path, problems)
        preds = [(mapping.get(image), "datalist") if image else (None, None) for image in images]

    # ---- per image
    rows: list[dict[str, Any]] = []
    for item, image, (pred_file, match) in zip(items, images, preds):
        label_file = resolve_datalist_path(item.get(LABEL), base)
        patient = item.get(PATIENT_ID)
        pathology = item.get(PATHOLOGY)
        row: dict[str, Any] = {
            "image": image, "patient_id": patient, "pathology": pathology, "status": "ok",
            **dict.fromkeys(METRICS, float("nan")), "tp": None, "fp": None, "fn": None,
            "gt_empty": None, "pred_empty": None, "label": label_file, "pred": pred_file,
            "match": match if pred_file else None, "_group": patient if patient not in (None, "") else f"image:{image}",
        }
        rows.append(row)

        def fail(path: Any, kind: str, detail: str, row: dict[str, Any] = row) -> None:
            problems.add(path, kind, detail)
            row["status"] = kind

        if image is None:
            fail(f"{label_path}#{split}[{len(rows) - 1}]", "missing_image_path", f"item has no {IMAGE!r}")
            continue
        if patient in (None, ""):
            problems.add(image, "missing_patient_id", "the image is its own patient in the bootstrap")
        if match == "ambiguous_stem":
            fail(image, "ambiguous_stem", f"{Counter(file_stem(i) for i in images if i)[file_stem(image)]} images "
                 f"of split {split!r} share the stem {file_stem(image)!r}; give a datalist with {PRED!r} keys")
            continue
        if pred_file is None:
            fail(image, "missing_prediction", f"no predicted mask in {pred_path}")
            continue
        image_spacing = fixed_spacing
        shape = None
        try:
            shape, header_spacing = image_shape_and_spacing(Path(image), need_shape=label_file is None)
            image_spacing = image_spacing or header_spacing
        except Exception as e:
            if label_file is None:
                fail(image, "unreadable_image", f"cannot read its size for an all-zero ground truth: {e}")
                continue
        try:
            gt = read_mask(label_file) != 0 if label_file else np.zeros(shape, bool)
        except Exception as e:
            fail(label_file, "unreadable_label", f"{type(e).__name__}: {e}")
            continue
        try:
            raw = read_mask(pred_file)
        except Exception as e:
            fail(pred_file, "unreadable_prediction", f"{type(e).__name__}: {e}")
            continue
        if raw.shape != gt.shape:
            hint = " (transposed: saved with (cols, rows) indexing?)" if raw.shape == gt.shape[::-1] else ""
            source = "label" if label_file else "image"
            fail(pred_file, "size_mismatch", f"prediction {raw.shape} vs {source} {gt.shape} of {image}{hint}")
            continue
        try:
            mask = binarize_prediction(raw, threshold)
        except ValueError as e:
            fail(pred_file, "bad_prediction_values", str(e))
            continue
        row.update(segmentation_metrics(mask, gt, spacing=image_spacing))
        row["_spacing"] = image_spacing

    # ---- summary
    ok = [r for r in rows if r["status"] == "ok"]
    metrics: dict[str, Any] = {
        "all": _summarise_subset(ok, n_resamples, seed),
        "lesion": _summarise_subset([r for r in ok if not r["gt_empty"]], n_resamples, seed),
    }
    by_pathology = {
        p: _summarise_subset([r for r in ok if r["pathology"] == p], n_resamples, seed)
        for p in PATHOLOGIES
        if any(r["pathology"] == p for r in ok)
    }
    counts = {
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
    summary: dict[str, Any] = {
        "task": "segmentation",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "inputs": {"pred": str(pred_path.resolve()), "label": str(label_path.resolve()), "split": split,
                   "pred_kind": "folder" if pred_path.is_dir() else "datalist"},
        "settings": {"threshold": float(threshold), "spacing": list(fixed_spacing) if fixed_spacing else None,
                     "n_resamples": int(n_resamples), "seed": int(seed), "confidence": _CONFIDENCE,
                     "bootstrap": "percentile, resampling patients with replacement (all their images)",
                     "overlays": int(overlays)},
        "conventions": {
            "both_empty": "dice 1, iou 1, hd95 0",
            "one_empty": "dice 0, iou 0, hd95 NaN (left out of hd95 mean/median, counted in n_nan)",
            "missing": "images without a usable prediction are excluded, not scored 0 (see counts.missing)",
            "subsets": "all: every evaluated image; lesion: ground truth non-empty; by_pathology: item pathology",
        },
        "counts": counts,
        "metrics": metrics,
        "by_pathology": by_pathology,
        "problems": {"counts": problems.counts(), "file": str(paths["problems"]),
                     "first": [str(p) for p in problems.problems[:_MAX_LISTED_PROBLEMS]]},
        "versions": {"mammo_monai": __version__, "monai": monai_version, "torch": torch.__version__},
    }

    # ---- files
    out_dir.mkdir(parents=True, exist_ok=True)
    write_csv(rows, paths["metrics"], CSV_FIELDS)
    problems.write_csv(paths["problems"])
    if overlays:
        _overlay_sheet(rows, int(overlays), float(threshold)).save(paths["overlays"])
        summary["overlays"] = str(paths["overlays"])
    write_json(summary, paths["summary"])
    public_rows = [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]
    return SegmentationReport(rows=public_rows, summary=summary, problems=problems, paths=paths)


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
    if len(report.problems):
        kinds = ", ".join(f"{k}: {v}" for k, v in report.problems.counts().items())
        lines.append(f"problems: {len(report.problems)} ({kinds}) -> {report.paths.get('problems')}")
    lines += [f"wrote {path}" for path in report.paths.values()]
    return "\n".join(lines)
