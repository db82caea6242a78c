"""FROC metric functions, pure (arrays in, numbers out): the CAMELYON16 / MONAI curve (vectorised), sensitivity
at fixed false positives per image and CPM, operating points, and the patient-bootstrap figures of a set of
evaluated images (:class:`_FrocData`)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from monai.metrics import compute_froc_score

#: the false-positive-per-image rates of the sensitivities and their mean (CPM)
FP_RATES = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
_ALL = "all"


def froc_curve_data(fp_probs: Sequence[float] | np.ndarray, tp_probs: Sequence[float] | np.ndarray,
                    num_targets: int, num_images: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`monai.metrics.compute_froc_curve_data`, vectorised (``O(n log n)`` rather than ``O(n^2)``), with
    the thresholds: the bootstrap recomputes the curve thousands of times.

    As MONAI (CAMELYON16): the thresholds are the distinct values of ``fp_probs`` and ``tp_probs`` but the
    lowest (CAMELYON16's 0 of missed lesions), ascending, then a last point (threshold ``inf``) of 0 FP and 0
    sensitivity; at a threshold ``t``, FP/image is ``#(fp_probs >= t) / num_images`` and sensitivity
    ``#(tp_probs >= t) / num_targets`` (NaN without targets).

    Returns:
        ``(fps_per_image, sensitivity, thresholds)``.

    Example:
        >>> fps, sens, thr = froc_curve_data([0.9, 0.3], [0.8, 0.0], num_targets=2, num_images=2)
        >>> fps.tolist(), sens.tolist(), thr.tolist()
        ([1.0, 0.5, 0.5, 0.0], [0.5, 0.5, 0.0, 0.0], [0.3, 0.8, 0.9, inf])
    """
    fp = np.sort(np.asarray(fp_probs, dtype=float).ravel())
    tp = np.sort(np.asarray(tp_probs, dtype=float).ravel())
    thresholds = np.unique(np.concatenate([fp, tp]))[1:]
    n_fp = fp.size - np.searchsorted(fp, thresholds, side="left")
    n_tp = tp.size - np.searchsorted(tp, thresholds, side="left")
    with np.errstate(divide="ignore", invalid="ignore"):
        fps = np.append(n_fp, 0) / float(num_images)
        sensitivity = np.append(n_tp, 0) / float(num_targets)
    return fps, sensitivity, np.append(thresholds, np.inf)



def froc_curve(fp_scores: Sequence[float] | np.ndarray, lesion_scores: Sequence[float] | np.ndarray,
               num_images: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The lesion-level FROC curve: :func:`froc_curve_data` with missed lesions (NaN in ``lesion_scores``) and a
    sentinel false positive at ``-inf``, so that the skipped lowest value is the sentinel and every real score
    is an operating point (scores may have any sign).

    Args:
        fp_scores: the scores of the false-positive candidates of all images.
        lesion_scores: one per target lesion: the highest score of the candidates hitting it, NaN when missed.
        num_images: the images the candidates come from (FP/image denominator).

    Returns:
        ``(fps_per_image, sensitivity, thresholds)`` as :func:`froc_curve_data`.

    Example:
        >>> fps, sens, thr = froc_curve([0.9, 0.3], [0.8, float("nan")], num_images=2)
        >>> fps.tolist(), sens.tolist(), thr.tolist()
        ([1.0, 0.5, 0.5, 0.0], [0.5, 0.5, 0.0, 0.0], [0.3, 0.8, 0.9, inf])
    """
    tp = np.asarray(lesion_scores, dtype=float).ravel()
    tp = np.where(np.isnan(tp), -np.inf, tp)
    fp = np.append(np.asarray(fp_scores, dtype=float).ravel(), -np.inf)
    return froc_curve_data(fp, tp, tp.size, num_images)



def _curve_metrics(fps: np.ndarray, sensitivity: np.ndarray, n_targets: int, n_hit: int, n_fp: int,
                   num_images: int, fp_rates: Sequence[float]) -> dict[str, float]:
    out: dict[str, float] = {}
    defined = n_targets > 0 and num_images > 0
    for rate in fp_rates:
        out[f"sensitivity/{rate:g}"] = float(compute_froc_score(fps, sensitivity, (rate,))) if defined else math.nan
    out["cpm"] = float(compute_froc_score(fps, sensitivity, tuple(fp_rates))) if defined else math.nan
    out["max_sensitivity"] = n_hit / n_targets if n_targets else math.nan
    out["fp_per_image"] = n_fp / num_images if num_images else math.nan
    return out



def froc_metrics(fp_scores: Sequence[float] | np.ndarray, lesion_scores: Sequence[float] | np.ndarray,
                 num_images: int, fp_rates: Sequence[float] = FP_RATES) -> dict[str, float]:
    """Sensitivity at each FP/image rate and CPM (their mean), with :func:`monai.metrics.compute_froc_score` on
    :func:`froc_curve`.

    Returns:
        a flat dict: ``sensitivity/<rate>`` (``<rate>`` formatted with ``g``: ``0.125``, ``1``), ``cpm``,
        ``max_sensitivity`` (the fraction of lesions hit by any candidate) and ``fp_per_image`` (every candidate
        kept). Sensitivities are NaN without lesions or images.

    Example:
        >>> m = froc_metrics([0.5, 0.4, 0.3, 0.2], [0.9, 0.35], num_images=2, fp_rates=(0.5, 1, 2))
        >>> m["sensitivity/0.5"], m["sensitivity/1"], m["sensitivity/2"], m["cpm"]
        (0.5, 1.0, 1.0, 0.8333333333333334)
    """
    lesions = np.asarray(lesion_scores, dtype=float).ravel()
    fps, sensitivity, _ = froc_curve(fp_scores, lesions, num_images)
    return _curve_metrics(fps, sensitivity, lesions.size, int(np.count_nonzero(~np.isnan(lesions))),
                          int(np.asarray(fp_scores).size), num_images, fp_rates)



def _operating_points(fps: np.ndarray, sensitivity: np.ndarray, thresholds: np.ndarray,
                      fp_rates: Sequence[float]) -> dict[str, dict[str, Any]]:
    """Per rate, the curve's point with the lowest threshold and at most ``rate`` FP/image (not interpolated)."""
    points = {}
    for rate in fp_rates:
        k = int(np.argmax(fps <= rate + 1e-12))  # fps falls as the threshold rises; the last point has 0 FP
        threshold = float(thresholds[k])
        points[f"{rate:g}"] = {"threshold": threshold if math.isfinite(threshold) else None,
                               "fp_per_image": float(fps[k]), "sensitivity": float(sensitivity[k])}
    return points



class _FrocData:
    """The evaluated images' false positives and target lesions as flat arrays, to compute the FROC of any
    resample (image indices, repeated as drawn) without Python loops over images."""

    def __init__(self, fp_scores: Sequence[np.ndarray], lesions: Sequence[Sequence[tuple[str, float]]],
                 groups: Sequence[str], fp_rates: Sequence[float], band_rates: np.ndarray) -> None:
        self.n_images = len(fp_scores)
        self.fp = np.concatenate([np.asarray(f, float) for f in fp_scores]) if fp_scores else np.zeros(0)
        self.fp_image = np.repeat(np.arange(self.n_images), [len(f) for f in fp_scores]).astype(np.int64)
        self.groups = list(groups)
        self.lesion_scores: dict[str, np.ndarray] = {}
        self.lesion_image: dict[str, np.ndarray] = {}
        for group in self.groups:
            pairs = [(i, s) for i, image_lesions in enumerate(lesions) for t, s in image_lesions
                     if group == _ALL or t == group]
            self.lesion_image[group] = np.array([i for i, _ in pairs], dtype=np.int64)
            self.lesion_scores[group] = np.array([s for _, s in pairs], dtype=float)
        self.fp_rates = tuple(fp_rates)
        self.band_rates = band_rates

    def curve(self, group: str, counts: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The FROC curve of ``group`` (``"all"`` or a type) over images drawn ``counts`` times (default once)."""
        fp, scores = self.fp, self.lesion_scores[group]
        n_images = self.n_images
        if counts is not None:
            fp = np.repeat(fp, counts[self.fp_image])
            scores = np.repeat(scores, counts[self.lesion_image[group]])
            n_images = int(counts.sum())
        return froc_curve(fp, scores, n_images)

    def __call__(self, idx: np.ndarray) -> dict[str, float]:
        """Every bootstrapped figure of the resample ``idx``: ``<group>/<metric>`` and ``band/<i>``."""
        counts = np.bincount(idx, minlength=self.n_images)
        n_fp = int(counts[self.fp_image].sum())
        out: dict[str, float] = {}
        for group in self.groups:
            image_counts = counts[self.lesion_image[group]]
            scores = self.lesion_scores[group]
            fps, sensitivity, _ = self.curve(group, counts)
            n_targets, n_hit = int(image_counts.sum()), int(image_counts[~np.isnan(scores)].sum())
            metrics = _curve_metrics(fps, sensitivity, n_targets, n_hit, n_fp, len(idx), self.fp_rates)
            out.update({f"{group}/{k}": v for k, v in metrics.items()})
            if group == _ALL:
                band = np.interp(self.band_rates, fps[::-1], sensitivity[::-1]) if n_targets else \
                    np.full(self.band_rates.size, math.nan)
                out.update({f"band/{i}": float(v) for i, v in enumerate(band)})
        return out



def _nest_metrics(flat: Mapping[str, Any], groups: Sequence[str], fp_rates: Sequence[float]) -> dict[str, Any]:
    def one(group: str) -> dict[str, Any]:
        return {"cpm": flat[f"{group}/cpm"],
                "sensitivity": {f"{r:g}": flat[f"{group}/sensitivity/{r:g}"] for r in fp_rates},
                "max_sensitivity": flat[f"{group}/max_sensitivity"]}

    return {_ALL: {**one(_ALL), "fp_per_image": flat[f"{_ALL}/fp_per_image"]},
            "by_type": {g: one(g) for g in groups if g != _ALL}}



def _curve_rows(data: _FrocData, types: Sequence[str]) -> list[dict[str, Any]]:
    """The overall curve's points (real thresholds, highest first) with each type's sensitivity there."""
    if not data.n_images:
        return []
    fps, sensitivity, thresholds = data.curve(_ALL)
    n_fp = np.rint(fps * data.n_images).astype(int)
    rows = []
    sorted_scores = {t: np.sort(data.lesion_scores[t][~np.isnan(data.lesion_scores[t])]) for t in types}
    for k in range(len(thresholds) - 2, -1, -1):
        row = {"threshold": float(thresholds[k]), "n_fp": int(n_fp[k]), "fp_per_image": float(fps[k]),
               "sensitivity": float(sensitivity[k])}
        for t in types:
            n = data.lesion_scores[t].size
            hit = sorted_scores[t].size - np.searchsorted(sorted_scores[t], thresholds[k], side="left")
            row[f"sensitivity_{t}"] = float(hit / n) if n else math.nan
        rows.append(row)
    return rows
