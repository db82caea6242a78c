"""Detection evaluation: lesion-level FROC (sensitivity at fixed false positives per image, CPM), overall and
per lesion type, every figure with a patient-level bootstrap 95% CI.

``evaluate_detection(pred, label, out)`` matches a folder of per-image detection files to the items of a
datalist split, decides which candidates hit which lesions, computes the FROC as in CAMELYON16 / MONAI's
pathology tumour-detection bundle (:func:`monai.metrics.compute_froc_curve_data`,
:func:`monai.metrics.compute_froc_score`) and writes :data:`REPORT_FILES` into ``out``.

Prediction folder (what the detection bundle's inference writes): one JSON file per image, any name ending in
``.json``, anywhere under the folder (hidden files and folders, and this evaluator's own report files, are
skipped)::

    {"image": "<the image path as in the datalist item's 'image'>",
     "image_shape": [rows, cols],
     "classes": ["normal", "mass", "calcification"],
     "candidates": [{"score": 0.93, "center": [row, col], "box": [row0, col0, row1, col1], "class": "mass",
                     "probabilities": {"mass": 0.9, "calcification": 0.03}}, ...]}

=================  ========  ====================================================================================
key                needed    meaning
=================  ========  ====================================================================================
``image``          yes       the image; a relative path is taken from the datalist's folder, else from the
                             prediction file's folder
``candidates``     yes       a list, ``[]`` for an image without any detection
``score``          yes       per candidate: a finite number, higher is more suspicious (any scale)
``center``         yes       per candidate: ``[row, col]`` in the ORIGINAL image's pixel grid (the grid of the
                             datalist's lesion records), may be fractional; more than a pixel outside the image
                             (when its shape is known) is a bad candidate
``image_shape``    no        ``[rows, cols]`` of the original image: checked against the image file's header when
                             it can be read (a mismatch makes the file unusable), and the image's shape for the
                             lesion mask check when the image cannot be read
``classes``,       no        not used by the evaluator (a candidate's class does not decide a hit: FROC here is
``class``,                   class-agnostic; per-type sensitivities split the *lesions*, not the candidates)
``box``,
``probabilities``
=================  ========  ====================================================================================

Matching a file to an item: by the resolved absolute path of ``image`` (symlinks resolved); when no item has
that path (predictions made on another machine), by the image's file stem (``mdb001.png`` -> ``mdb001``) if
exactly one item of the split has it (several: ``ambiguous_stem``, the file is not used: CBIS-DDSM images are
all called ``1-1.dcm``, give their paths). Two files for one item: the path match wins over the stem match,
then the first file in path order (``duplicate_prediction`` for the other).

Truth: the items of ``split``. Lesions whose ``type`` is in ``lesion_types`` (default mass and calcification)
are the *targets*; lesions of other types are *ignored*: a candidate on an ignored lesion (and on no target)
is neither a true nor a false positive, it is left out. A target without any position (MIAS calcifications
spread over the breast) is reported (``lesion_without_position``) and left out of the targets; a candidate on
it cannot be recognised and counts as a false positive.

Hit rule: a candidate hits a lesion when its centre lies inside the lesion's mask (the record's ``mask``, a file
in the full image's grid, read with :func:`~mammo_monai.evaluation.inputs.read_mask`; DICOM with stored
values, no MONOCHROME1 inversion), or, without a (usable) mask, within ``radius`` of ``center`` (Euclidean,
``<=``), or, without both, inside ``box`` (half-open). Mask and box tests use the pixel the centre falls in
(``floor(coordinate + 0.5)``, pixel centres on integer coordinates). A mask of another shape than the image, an
empty or unreadable one is reported (``bad_lesion_mask``) and the next rule is used. One hit per lesion:

- a target's score is the highest score of the candidates hitting it (missed: no score);
- a candidate hitting no target (nor an ignored lesion) is a false positive; a candidate hitting an already hit
  target is not a false positive (it adds nothing); a candidate hitting two overlapping targets hits both.

FROC: at each threshold (the distinct candidate scores; ``score >= threshold`` is kept, tied candidates enter
together) sensitivity = hit targets / targets and FP/image = false positives / evaluated images (every
evaluated image counts, with or without lesions). The curve is :func:`monai.metrics.compute_froc_curve_data`'s
(computed by its vectorised twin :func:`froc_curve_data`, the same output in ``O(n log n)``: the bootstrap
recomputes it thousands of times), with missed targets and one sentinel false positive at ``-inf`` so that its
skipping of the lowest value (CAMELYON16's 0 of missed lesions) never drops a real score. The sensitivity at a
rate is :func:`monai.metrics.compute_froc_score`'s linear interpolation of the curve (a rate beyond the last
point, every candidate kept, reads the last sensitivity), and CPM is the mean at ``fp_rates`` (default 1/8 ... 8,
:data:`FP_RATES`). Per lesion type the targets are that type's and the false positives are the shared ones of
all candidates.

Missing predictions (as the classification evaluator): an item without a usable prediction file (none,
malformed, a bad candidate: one bad candidate makes the whole file unusable, so that no image is evaluated on
part of its candidates; an image shape mismatch) is *excluded*: its lesions are not counted as missed and
it is not in the FP/image denominator; it is counted (``counts.missing``) and listed (problems, per-image CSV).

Problems (``detection_problems.csv`` and the JSON; the rest is evaluated): ``malformed_prediction``,
``bad_candidate``, ``image_shape_mismatch``, ``unmatched_prediction``, ``ambiguous_stem``,
``duplicate_prediction``, ``missing_prediction``, ``missing_image_path``, ``duplicate_item``,
``missing_patient_id`` (the image is its own patient), ``lesion_without_position``, ``bad_lesion_geometry``,
``bad_lesion_mask``, ``unchecked_lesion_mask`` (the image's shape is unknown: the mask is used as it is).

Modules: :mod:`.predictions` (reading the prediction files), :mod:`.geometry` (the hit rule, pure),
:mod:`.froc` (the FROC metric functions and their bootstrap, pure), :mod:`.matching` (files to items, hits of
an image), :mod:`.plots` (the FROC plot), :mod:`.runner` (:func:`evaluate_detection`, the I/O, and the summary).

Example:
    >>> m = froc_metrics(fp_scores=[0.9, 0.3], lesion_scores=[0.8, float("nan")], num_images=2)
    >>> [m[f"sensitivity/{r:g}"] for r in FP_RATES], round(m["cpm"], 4), m["fp_per_image"]
    ([0.0, 0.0, 0.5, 0.5, 0.5, 0.5, 0.5], 0.3571, 1.0)
    >>> hits, rule = hits_lesion([[10, 10], [10, 16], [30, 30]], {"center": [10, 12], "radius": 4})
    >>> hits.tolist(), rule
    ([True, True, False], 'radius')
    >>> r = evaluate_detection("detections/", "datalist.json", "report/")  # doctest: +SKIP
    >>> r.summary["metrics"]["all"]["cpm"]  # doctest: +SKIP
    {'estimate': 0.71, 'ci': [0.63, 0.78], 'n_invalid': 0}
"""


from .froc import FP_RATES, froc_curve, froc_curve_data, froc_metrics
from .geometry import hits_lesion
from .predictions import DetectionPrediction, read_detections
from .runner import (
    DEFAULT_LESION_TYPES,
    PER_LESION_FIELDS,
    REPORT_FILES,
    DetectionReport,
    evaluate_detection,
    format_detection_summary,
)

__all__ = [
    "DEFAULT_LESION_TYPES",
    "FP_RATES",
    "PER_LESION_FIELDS",
    "REPORT_FILES",
    "DetectionPrediction",
    "DetectionReport",
    "evaluate_detection",
    "format_detection_summary",
    "froc_curve",
    "froc_curve_data",
    "froc_metrics",
    "hits_lesion",
    "read_detections",
]
