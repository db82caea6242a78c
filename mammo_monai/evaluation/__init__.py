"""Evaluation: metrics, bootstrap confidence intervals resampled by patient, and reports.

- :mod:`.bootstrap`: cluster (patient) bootstrap, generic (``fn(indices)``) and for per-image values.
- :mod:`.segmentation`: Dice/IoU/HD95 per image and summarised (``mammo-monai eval segmentation``).
- :mod:`.report`: JSON/CSV writers and overlay contact sheets shared by the evaluators.
"""

from .bootstrap import bootstrap_by_group, bootstrap_ci, factorize_groups, group_resample_counts, iter_group_resamples
from .report import jsonable, render_overlay, write_csv, write_json
from .segmentation import (
    REPORT_FILES,
    SegmentationReport,
    binarize_prediction,
    evaluate_segmentation,
    format_segmentation_summary,
    match_prediction_folder,
    read_mask,
    segmentation_metrics,
)

__all__ = [
    "REPORT_FILES",
    "SegmentationReport",
    "binarize_prediction",
    "bootstrap_by_group",
    "bootstrap_ci",
    "evaluate_segmentation",
    "factorize_groups",
    "format_segmentation_summary",
    "group_resample_counts",
    "iter_group_resamples",
    "jsonable",
    "match_prediction_folder",
    "read_mask",
    "render_overlay",
    "segmentation_metrics",
    "write_csv",
    "write_json",
]
