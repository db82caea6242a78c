"""Evaluation: metrics, bootstrap confidence intervals resampled by patient, and reports.

- :mod:`.bootstrap`: cluster (patient) bootstrap, generic (``fn(indices)``) and for per-image values.
- :mod:`.segmentation`: Dice/IoU/HD95 per image and summarised (``mammo-monai eval segmentation``).
- :mod:`.classification`: AUC, balanced accuracy, per-class metrics, operating points and calibration of
  class probabilities (``mammo-monai eval classification``), truth from :mod:`mammo_monai.data.labels`.
- :mod:`.report`: JSON/CSV writers and overlay contact sheets shared by the evaluators.
"""

from .bootstrap import bootstrap_by_group, bootstrap_ci, factorize_groups, group_resample_counts, iter_group_resamples
from .classification import REPORT_FILES as CLASSIFICATION_REPORT_FILES
from .classification import (
    ClassificationReport,
    calibration_bins,
    classification_metrics,
    evaluate_classification,
    format_classification_summary,
    read_predictions,
    youden_threshold,
)
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
    "CLASSIFICATION_REPORT_FILES",
    "REPORT_FILES",
    "ClassificationReport",
    "SegmentationReport",
    "binarize_prediction",
    "bootstrap_by_group",
    "bootstrap_ci",
    "calibration_bins",
    "classification_metrics",
    "evaluate_classification",
    "evaluate_segmentation",
    "factorize_groups",
    "format_classification_summary",
    "format_segmentation_summary",
    "group_resample_counts",
    "iter_group_resamples",
    "jsonable",
    "match_prediction_folder",
    "read_mask",
    "read_predictions",
    "render_overlay",
    "segmentation_metrics",
    "write_csv",
    "write_json",
    "youden_threshold",
]
