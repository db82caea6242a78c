"""Classification evaluation: ROC/PR, balanced accuracy, per-class metrics, operating points and calibration,
every headline figure with a patient-level bootstrap 95% CI.

``evaluate_classification(pred, label, out, task)`` matches a predictions file to the items of a datalist
split (image level, or lesion level expanded with :func:`~mammo_monai.data.lesion_items.lesion_items`),
takes the truth from :mod:`mammo_monai.data.labels` (the definition the classification bundles train on),
and writes :data:`REPORT_FILES` into ``out``.

Prediction file (what the bundles' inference writes), CSV or JSON, one row per scored item:

=====================  ==========================================================================
column / key           value
=====================  ==========================================================================
``image``              the image path as written in the datalist (a relative path is taken from the
                       datalist's folder, else from the prediction file's folder)
``lesion_index``       lesion-level tasks only: the lesion's index in the image's ``lesions`` list;
                       empty (CSV) or ``null`` (JSON) for a normal-tissue item (``include_normal``)
``prob_<class>``       one probability per class of the task (:attr:`LabelSet.classes
                       <mammo_monai.data.labels.LabelSet.classes>`); multi-class rows must sum to 1
                       (within :data:`SUM_TOLERANCE`); a binary task may give only ``prob_<positive>``
=====================  ==========================================================================

A CSV has a header line; a JSON file is a list of row objects with the same keys, e.g.
``[{"image": "mdb001.png", "prob_normal": 0.3, "prob_abnormal": 0.7}]``. Other columns (a patient id,
logits) are ignored; an unknown ``prob_*`` column, a missing class column or a missing ``image`` (or, at
lesion level, ``lesion_index``) column is an error naming the file.

Operating points:

- multi-class: the argmax (ties go to the first class); per class one-vs-rest at the argmax.
- binary: the argmax block as well, and a threshold on the positive probability (``p >= threshold`` is
  positive) chosen on the *validation* predictions ``val_pred`` by Youden's J (:func:`youden_threshold`),
  else 0.5 and the report says so; the evaluated split never chooses its own threshold. Specificity at
  each of ``fixed_sensitivities`` is read on the evaluated split's ROC (the first threshold reaching the
  sensitivity), the usual "specificity at 90% sensitivity".

Conventions: a metric whose denominator is zero (precision of a class never predicted, AUC with one class
absent) is NaN, written ``null``; a bootstrap resample giving NaN is counted in ``n_invalid`` and left out
of the CI. Macro AUC and balanced accuracy are NaN when a class is absent from the items (the
per-class values stay). ECE uses ``n_bins`` equal-width ``(low, high]`` bins (the first includes 0, as
:func:`monai.metrics.calibration_binning`), binary on the positive probability, multi-class on the
top-class confidence against argmax correctness.

Bad input is reported (``classification_problems.csv`` and the JSON, the row as ``file:line`` for a CSV,
``file#[index]`` for JSON) and the rest is evaluated: ``unmatched_prediction``, ``duplicate_prediction``,
``bad_probability``, ``bad_lesion_index``, ``missing_image_path``, ``missing_prediction``,
``duplicate_item``, ``missing_patient_id`` (the item is its own patient in the bootstrap). Items the task
has no class for (e.g. MIAS architectural distortion in ``type_pathology``) are skipped and counted by
reason.

Modules: :mod:`.predictions` (reading the prediction file), :mod:`.metrics` (the metric functions, pure),
:mod:`.matching` (rows to datalist items), :mod:`.plots` (ROC, PR, reliability), :mod:`.runner`
(:func:`evaluate_classification`, the I/O, and the summary).

Example:
    >>> import numpy as np
    >>> y = np.array([0, 0, 1, 1]); p = np.array([0.1, 0.6, 0.4, 0.9])
    >>> m = classification_metrics(y, np.stack([1 - p, p], axis=1), ["benign", "malignant"], threshold=0.5,
    ...                            fixed_sensitivities=(1.0,))
    >>> m["auc/macro"], m["threshold/sensitivity"], m["specificity_at_sensitivity/1"]
    (0.75, 0.5, 0.5)
    >>> r = evaluate_classification("preds.csv", "datalist.json", "report/", "malignant",
    ...                             val_pred="val_preds.csv")  # doctest: +SKIP
    >>> r.summary["metrics"]["auc"]["macro"]  # doctest: +SKIP
    {'estimate': 0.87, 'ci': [0.8, 0.93], 'n_invalid': 0}
"""


from .metrics import calibration_bins, classification_metrics, youden_threshold
from .predictions import LESION_INDEX, PROB_PREFIX, SUM_TOLERANCE, PredictionRow, read_predictions
from .runner import (
    DEFAULT_THRESHOLD,
    REPORT_FILES,
    ClassificationReport,
    evaluate_classification,
    format_classification_summary,
)

__all__ = [
    "DEFAULT_THRESHOLD",
    "LESION_INDEX",
    "PROB_PREFIX",
    "REPORT_FILES",
    "SUM_TOLERANCE",
    "ClassificationReport",
    "PredictionRow",
    "calibration_bins",
    "classification_metrics",
    "evaluate_classification",
    "format_classification_summary",
    "read_predictions",
    "youden_threshold",
]
