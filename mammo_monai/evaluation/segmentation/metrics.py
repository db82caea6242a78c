"""Segmentation metric functions, pure (arrays in, numbers out): binarising a predicted mask, Dice/IoU/HD95 of
one image with :mod:`monai.metrics`, and the bootstrap summary of a set of per-image rows."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from monai.metrics import compute_dice, compute_hausdorff_distance, compute_iou

from ..bootstrap import CONFIDENCE, bootstrap_ci

METRICS = ("dice", "iou", "hd95_px", "hd95_mm")


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



def _summarise_subset(rows: Sequence[Mapping[str, Any]], n_resamples: int, seed: int) -> dict[str, Any]:
    groups = [r["_group"] for r in rows]
    out: dict[str, Any] = {"images": len(rows), "patients": len(set(groups))}
    for metric in METRICS:
        values = np.array([r[metric] for r in rows], dtype=float)
        entry: dict[str, Any] = {}
        for stat in ("mean", "median"):
            ci = bootstrap_ci(values, groups, statistic=stat, n_resamples=n_resamples, confidence=CONFIDENCE,
                              seed=seed)
            entry[stat] = ci["estimate"]
            entry[f"{stat}_ci"] = [ci["low"], ci["high"]]
        out[metric] = {**entry, "n": ci["n"], "n_nan": ci["n_nan"], "n_patients": ci["n_groups"]}
    return out
