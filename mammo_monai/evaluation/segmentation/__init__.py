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

Modules: :mod:`.metrics` (binarising, Dice/IoU/HD95, the bootstrap summary; pure), :mod:`.matching` (masks to
images), :mod:`.overlays` (the contact sheet), :mod:`.runner` (:func:`evaluate_segmentation`, the I/O, and the
summary).

Example:
    >>> import numpy as np
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


from ..inputs import MASK_SUFFIXES, file_stem, read_mask
from .matching import PRED, match_prediction_folder
from .metrics import METRICS, binarize_prediction, segmentation_metrics
from .runner import (
    CSV_FIELDS,
    REPORT_FILES,
    SegmentationReport,
    evaluate_segmentation,
    format_segmentation_summary,
)

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
