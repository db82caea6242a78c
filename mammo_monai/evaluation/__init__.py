"""Evaluation: metrics, bootstrap confidence intervals resampled by patient, and reports.

- :mod:`.runner`: the one evaluation runner (:class:`EvaluationRunner`): check, guard the report folder, load the
  split, match and score, bootstrap by woman, write; each evaluator below is a thin subclass of it.
- :mod:`.bootstrap`: cluster (patient) bootstrap, generic (``fn(indices)``) and for per-image values.
- :mod:`.segmentation`: Dice/IoU/HD95 per image and summarised (``mammo-monai eval segmentation``).
- :mod:`.classification`: AUC, balanced accuracy, per-class metrics, operating points and calibration of
  class probabilities (``mammo-monai eval classification``), truth from :mod:`mammo_monai.data.labels`.
- :mod:`.detection`: lesion-level FROC (sensitivity at 1/8 ... 8 false positives per image, CPM) of per-image
  candidate files, overall and per lesion type (``mammo-monai eval detection``).
- :mod:`.inputs`: the files the evaluators read: datalist path values, masks, DICOM detection, image
  shape and pixel spacing from the header.
- :mod:`.report`: JSON/CSV writers and overlay contact sheets shared by the evaluators.
- :mod:`.plots`: the Pillow axes the evaluators draw their curves on.
"""

from .bootstrap import (
    SharedResamples,
    bootstrap_by_group,
    bootstrap_ci,
    factorize_groups,
    group_resample_counts,
    iter_group_resamples,
)
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
from .detection import REPORT_FILES as DETECTION_REPORT_FILES
from .detection import (
    DetectionReport,
    evaluate_detection,
    format_detection_summary,
    froc_curve,
    froc_curve_data,
    froc_metrics,
    hits_lesion,
    read_detections,
)
from .inputs import read_mask
from .report import jsonable, render_overlay, write_csv, write_json
from .runner import EvaluationRunner, bootstrap_figures
from .segmentation import (
    REPORT_FILES,
    SegmentationReport,
    binarize_prediction,
    evaluate_segmentation,
    format_segmentation_summary,
    match_prediction_folder,
    segmentation_metrics,
)

__all__ = [
    "CLASSIFICATION_REPORT_FILES",
    "DETECTION_REPORT_FILES",
    "REPORT_FILES",
    "ClassificationReport",
    "DetectionReport",
    "EvaluationRunner",
    "SegmentationReport",
    "SharedResamples",
    "binarize_prediction",
    "bootstrap_by_group",
    "bootstrap_ci",
    "bootstrap_figures",
    "calibration_bins",
    "classification_metrics",
    "evaluate_classification",
    "evaluate_detection",
    "evaluate_segmentation",
    "factorize_groups",
    "format_classification_summary",
    "format_detection_summary",
    "format_segmentation_summary",
    "froc_curve",
    "froc_curve_data",
    "froc_metrics",
    "group_resample_counts",
    "hits_lesion",
    "iter_group_resamples",
    "jsonable",
    "match_prediction_folder",
    "read_detections",
    "read_mask",
    "read_predictions",
    "render_overlay",
    "segmentation_metrics",
    "write_csv",
    "write_json",
    "youden_threshold",
]
