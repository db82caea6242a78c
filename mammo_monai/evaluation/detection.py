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

from __future__ import annotations

import json
import math
import os
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from monai import __version__ as monai_version
from monai.metrics import compute_froc_score

from .. import __version__
from ..data.problems import ProblemLog
from ..data.schema import (
    IMAGE,
    LESION_TYPES,
    LESIONS,
    PATIENT_ID,
    SPLITS,
    ensure_outside_inputs,
    ensure_writable,
    load_datalist,
)
from .bootstrap import SharedResamples, bootstrap_by_group
from .inputs import file_stem, image_shape_and_spacing, is_dicom, read_mask, resolve_datalist_path
from .plots import COLOURS, Axes, lighten
from .report import write_csv, write_json

__all__ = [
    "DEFAULT_LESION_TYPES",
    "FP_RATES",
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

#: the false-positive-per-image rates of the sensitivities and their mean (CPM)
FP_RATES = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
DEFAULT_LESION_TYPES = ("mass", "calcification")
REPORT_FILES = {
    "metrics": "detection_metrics.json",
    "per_lesion": "detection_per_lesion.csv",
    "per_image": "detection_per_image.csv",
    "curve": "froc_curve.csv",
    "problems": "detection_problems.csv",
    "froc": "froc.png",
}
PER_LESION_FIELDS = ("image", "patient_id", "lesion_index", "type", "pathology", "role", "rule", "image_status",
                     "hit", "score", "hit_by", "n_hits", "mask")
_CONFIDENCE = 0.95
_MAX_LISTED_PROBLEMS = 100
_MAX_CANDIDATE_ERRORS = 5  # bad candidates named per file (all are counted)
_BAND_POINTS = 49  # FP rates of the plotted curve and its CI band
_ALL = "all"


@dataclass
class DetectionPrediction:
    """One prediction file, as read by :func:`read_detections`.

    Attributes:
        source: the file.
        image: the ``image`` value as written (``None`` when missing or the file unreadable).
        image_shape: ``(rows, cols)`` when given.
        scores: ``(n,)`` candidate scores.
        centers: ``(n, 2)`` candidate centres ``(row, col)``.
        kind: ``None``, or why the file is unusable (``malformed_prediction``, ``bad_candidate``).
        error: what is wrong with it.
    """

    source: str
    image: str | None
    image_shape: tuple[int, int] | None = None
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0))
    centers: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    kind: str | None = None
    error: str | None = None


@dataclass
class DetectionReport:
    """What :func:`evaluate_detection` computed and wrote.

    Attributes:
        images: one dict per item of the split (the ``detection_per_image.csv`` rows; ``status`` ``"ok"`` or the
            problem kind).
        lesions: one dict per lesion of the split's items (the ``detection_per_lesion.csv`` rows).
        summary: the content of ``detection_metrics.json``.
        problems: every problem met (also in ``detection_problems.csv``).
        paths: :data:`REPORT_FILES` key -> file written.
    """

    images: list[dict[str, Any]]
    lesions: list[dict[str, Any]]
    summary: dict[str, Any]
    problems: ProblemLog
    paths: dict[str, Path] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------ prediction files


def _finite_number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _pair(value: Any) -> tuple[float, float] | None:
    """``[a, b]`` of finite numbers -> ``(a, b)``; anything else -> ``None``."""
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        return None
    a, b = _finite_number(value[0]), _finite_number(value[1])
    return None if a is None or b is None else (a, b)


def _parse_shape(value: Any) -> tuple[int, int]:
    pair = _pair(value)
    if pair is None or not all(v.is_integer() and v > 0 for v in pair):
        raise ValueError(f"image_shape {value!r} is not [rows, cols] of positive integers")
    return int(pair[0]), int(pair[1])


def _parse_candidates(raw: list[Any]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Scores, centres and the errors (``candidates[i]: ...``) of a candidate list."""
    scores, centers, errors = [], [], []
    for i, candidate in enumerate(raw):
        if not isinstance(candidate, dict):
            errors.append(f"candidates[{i}] is not an object")
            continue
        score, center = _finite_number(candidate.get("score")), _pair(candidate.get("center"))
        if score is None:
            errors.append(f"candidates[{i}]: score {candidate.get('score')!r} is not a finite number"
                          if "score" in candidate else f"candidates[{i}]: no 'score'")
        if center is None:
            errors.append(f"candidates[{i}]: center {candidate.get('center')!r} is not [row, col]"
                          if "center" in candidate else f"candidates[{i}]: no 'center'")
        if score is not None and center is not None:
            scores.append(score)
            centers.append(center)
    return np.array(scores, dtype=float), np.array(centers, dtype=float).reshape(-1, 2), errors


def _candidate_summary(errors: Sequence[str]) -> str:
    shown = "; ".join(errors[:_MAX_CANDIDATE_ERRORS])
    more = f"; and {len(errors) - _MAX_CANDIDATE_ERRORS} more" if len(errors) > _MAX_CANDIDATE_ERRORS else ""
    return f"{len(errors)} bad candidate value(s): {shown}{more}; the file is not used"


def read_detections(path: str | os.PathLike) -> DetectionPrediction:
    """Read one prediction file (the format of the module docstring).

    A file whose content is unusable comes back with ``kind``/``error`` set (the caller reports it):
    ``malformed_prediction`` (not JSON, not an object, no ``image``, no ``candidates`` list, a bad
    ``image_shape``) or ``bad_candidate`` (a candidate without a finite ``score`` or a ``[row, col]``
    ``center``; ``image`` is still read, so the file can be matched to its item).

    Raises:
        FileNotFoundError: no such file.

    Example:
        >>> import tempfile
        >>> scratch = tempfile.TemporaryDirectory(); f = Path(scratch.name) / "mdb001.json"
        >>> _ = f.write_text('{"image": "mdb001.png", "candidates": [{"score": 0.9, "center": [5, 7]},'
        ...                  ' {"score": "high", "center": [1, 2]}]}')
        >>> p = read_detections(f)
        >>> p.image, p.kind, p.scores.tolist()
        ('mdb001.png', 'bad_candidate', [0.9])
        >>> p.error  # doctest: +ELLIPSIS
        "1 bad candidate value(s): candidates[1]: score 'high' is not a finite number; ..."
        >>> scratch.cleanup()
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: prediction file not found")
    pred = DetectionPrediction(source=str(path), image=None)
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        pred.kind, pred.error = "malformed_prediction", f"not valid JSON ({e})"
        return pred
    if not isinstance(data, dict):
        pred.kind, pred.error = "malformed_prediction", "expected a JSON object {'image': ..., 'candidates': [...]}"
        return pred
    image = data.get(IMAGE)
    if isinstance(image, str) and image.strip():
        pred.image = image.strip()
    else:
        pred.kind, pred.error = "malformed_prediction", f"no {IMAGE!r} path"
        return pred
    try:
        pred.image_shape = None if data.get("image_shape") is None else _parse_shape(data["image_shape"])
    except ValueError as e:
        pred.kind, pred.error = "malformed_prediction", str(e)
        return pred
    raw = data.get("candidates")
    if not isinstance(raw, list):
        pred.kind = "malformed_prediction"
        pred.error = ("no 'candidates' list (an image without detections has \"candidates\": [])" if raw is None
                      else f"'candidates' is a {type(raw).__name__}, not a list")
        return pred
    pred.scores, pred.centers, errors = _parse_candidates(raw)
    if errors:
        pred.kind, pred.error = "bad_candidate", _candidate_summary(errors)
    return pred


def _prediction_files(root: Path, skip: set[str]) -> list[Path]:
    """The ``.json`` files under ``root`` in path order, without hidden entries and the paths in ``skip``."""
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if name.startswith(".") or not name.lower().endswith(".json") or os.path.realpath(path) in skip:
                continue
            files.append(path)
    return files


# ------------------------------------------------------------------------------------------------- hits


def _pixels(centers: np.ndarray) -> np.ndarray:
    """The pixel ``(row, col)`` each centre falls in (pixel centres on integer coordinates)."""
    return np.floor(np.asarray(centers, dtype=float) + 0.5).astype(np.int64)


def _valid_box(value: Any) -> list[int] | None:
    if not isinstance(value, (list, tuple)) or len(value) != 4:
        return None
    numbers = [_finite_number(v) for v in value]
    if any(n is None for n in numbers):
        return None
    r0, c0, r1, c1 = (math.floor(n) for n in numbers)  # type: ignore[arg-type]
    return [r0, c0, r1, c1] if r1 > r0 and c1 > c0 else None


def _circle(lesion: Mapping[str, Any]) -> tuple[tuple[float, float], float] | None:
    """The lesion's usable ``(center, radius)``, else ``None``."""
    center, radius = _pair(lesion.get("center")), _finite_number(lesion.get("radius"))
    return (center, radius) if center is not None and radius is not None and radius >= 0 else None


def hits_lesion(centers: Sequence[Sequence[float]] | np.ndarray, lesion: Mapping[str, Any],
                mask: np.ndarray | None = None) -> tuple[np.ndarray, str]:
    """Which candidate centres hit one lesion, and the rule used.

    The rule (module docstring): inside ``mask`` (a boolean array in the image's grid, already read and checked)
    when given, else within the lesion's ``radius`` of its ``center``, else inside its half-open ``box``, else
    nothing hits (rule ``"none"``). Mask and box tests use the pixel a centre falls in; a centre outside the mask
    grid does not hit.

    Returns:
        ``(hits, rule)``: a boolean array, one per centre, and ``"mask"``, ``"radius"``, ``"box"`` or ``"none"``.

    Example:
        >>> m = np.zeros((8, 8), bool); m[2:4, 2:4] = True
        >>> hits_lesion([[2.4, 3.4], [3.6, 2.0], [-1, 2]], {"center": [0, 0], "radius": 1}, mask=m)[0].tolist()
        [True, False, False]
        >>> hits_lesion([[1, 1], [3, 3]], {"center": None, "radius": None, "box": [0, 0, 3, 3]})
        (array([ True, False]), 'box')
    """
    points = np.asarray(centers, dtype=float).reshape(-1, 2)
    if mask is not None:
        pixel = _pixels(points)
        inside = (pixel >= 0).all(axis=1) & (pixel[:, 0] < mask.shape[0]) & (pixel[:, 1] < mask.shape[1])
        hits = np.zeros(len(points), bool)
        hits[inside] = mask[pixel[inside, 0], pixel[inside, 1]]
        return hits, "mask"
    circle = _circle(lesion)
    if circle is not None:
        center, radius = circle
        return ((points - np.asarray(center)) ** 2).sum(axis=1) <= radius ** 2, "radius"
    box = _valid_box(lesion.get("box"))
    if box is not None:
        pixel = _pixels(points)
        r0, c0, r1, c1 = box
        hits = (pixel[:, 0] >= r0) & (pixel[:, 0] < r1) & (pixel[:, 1] >= c0) & (pixel[:, 1] < c1)
        return hits, "box"
    return np.zeros(len(points), bool), "none"


def _has_position(lesion: Mapping[str, Any]) -> bool:
    return _circle(lesion) is not None or _valid_box(lesion.get("box")) is not None


def _bad_geometry(lesion: Mapping[str, Any]) -> list[str]:
    """The position fields that are given but unusable."""
    bad = []
    if lesion.get("center") is not None and _pair(lesion.get("center")) is None:
        bad.append(f"center {lesion.get('center')!r}")
    radius = lesion.get("radius")
    if radius is not None and (_finite_number(radius) is None or _finite_number(radius) < 0):
        bad.append(f"radius {radius!r}")
    if lesion.get("box") is not None and _valid_box(lesion.get("box")) is None:
        bad.append(f"box {lesion.get('box')!r}")
    return bad


def _read_lesion_mask(path: str, shape: tuple[int, int] | None) -> np.ndarray:
    """A lesion mask file as a boolean array (non-zero is the lesion), checked against the image's shape.

    Raises:
        FileNotFoundError / ValueError / MammogramReadError: (naming the file) unreadable, another shape, empty.
    """
    file = Path(path)
    if file.is_file() and is_dicom(file):
        from ..io.dicom import read_dicom_mammogram

        array = np.squeeze(read_dicom_mammogram(file, invert_monochrome1=False)[0])
        if array.ndim != 2:
            raise ValueError(f"{file}: not a 2D mask (shape {array.shape})")
    else:
        array = read_mask(file)
    if shape is not None and tuple(array.shape) != tuple(shape):
        hint = " (transposed?)" if tuple(array.shape) == tuple(shape)[::-1] else ""
        raise ValueError(f"{file}: mask shape {tuple(array.shape)} differs from the image's {tuple(shape)}{hint}")
    mask = array != 0
    if not mask.any():
        raise ValueError(f"{file}: the mask is empty")
    return mask


# -------------------------------------------------------------------------------------------------- FROC


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


# --------------------------------------------------------------------------------------------- matching


def _key(path: str) -> str:
    return os.path.realpath(path)


def _item_entries(items: Sequence[Mapping[str, Any]], base: Path, label_path: Path, split: str,
                  problems: ProblemLog) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """One entry per item (image, patient, status) and ``{resolved image key: entry}``."""
    entries: list[dict[str, Any]] = []
    by_key: dict[str, dict[str, Any]] = {}
    for n, item in enumerate(items):
        image = resolve_datalist_path(item.get(IMAGE), base)
        patient = item.get(PATIENT_ID)
        entry: dict[str, Any] = {
            "image": image, "patient_id": patient, "status": "ok", "detail": "", "prediction": None, "match": None,
            "_item": item, "_pred": None, "_group": patient if patient not in (None, "") else f"image:{image}#{n}",
        }
        entries.append(entry)
        if image is None:
            entry["status"], entry["detail"] = "missing_image_path", f"item has no {IMAGE!r}"
            problems.add(f"{label_path}#{split}[{n}]", "missing_image_path", entry["detail"])
            continue
        if _key(image) in by_key:
            entry["status"] = "duplicate_item"
            entry["detail"] = f"the same image appears earlier in split {split!r}; only the first is evaluated"
            problems.add(image, "duplicate_item", entry["detail"])
            continue
        by_key[_key(image)] = entry
        if patient in (None, ""):
            problems.add(image, "missing_patient_id", "the image is its own patient in the bootstrap")
    return entries, by_key


def _other_splits(datalist: Mapping[str, Sequence[Mapping[str, Any]]], split: str, base: Path
                  ) -> tuple[dict[str, str], dict[str, str]]:
    """``{image key: split}`` and ``{stem: split}`` of the other splits (for the unmatched hint)."""
    keys, stems = {}, {}
    for other in SPLITS:
        if other == split:
            continue
        for item in datalist[other]:
            image = resolve_datalist_path(item.get(IMAGE), base)
            if image is not None:
                keys.setdefault(_key(image), other)
                stems.setdefault(file_stem(image), other)
    return keys, stems


def _match_predictions(files: Sequence[Path], by_key: Mapping[str, dict[str, Any]], base: Path, split: str,
                       elsewhere: tuple[dict[str, str], dict[str, str]], problems: ProblemLog) -> dict[str, int]:
    """Read the prediction files and attach each to its entry (``_pred``, ``prediction``, ``match``): by path
    first (every file), then by stem (the files no path matched)."""
    by_stem: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for entry in by_key.values():
        by_stem[file_stem(entry["image"])].append(entry)
    counts = {"files": len(files), "matched": 0, "matched_by_stem": 0, "unmatched": 0, "ambiguous_stem": 0,
              "duplicate": 0, "malformed": 0}

    def attach(entry: dict[str, Any], pred: DetectionPrediction, how: str) -> None:
        if entry["_pred"] is not None:
            counts["duplicate"] += 1
            problems.add(pred.source, "duplicate_prediction",
                         f"{entry['image']} already predicted by {entry['prediction']} ({entry['match']} match; "
                         "that file is used)")
            return
        entry["_pred"], entry["prediction"], entry["match"] = pred, pred.source, how
        counts["matched"] += 1
        counts["matched_by_stem"] += how == "stem"

    by_path_later = []
    for file in files:
        pred = read_detections(file)
        if pred.image is None:
            counts["malformed"] += 1
            problems.add(pred.source, pred.kind or "malformed_prediction", pred.error or "")
            continue
        keys = [_key(p) for p in {resolve_datalist_path(pred.image, base),
                                  resolve_datalist_path(pred.image, file.parent)}]
        entry = next((by_key[k] for k in keys if k in by_key), None)
        if entry is not None:
            attach(entry, pred, "path")
        else:
            by_path_later.append((pred, keys))
    for pred, keys in by_path_later:
        stem = file_stem(pred.image)  # type: ignore[arg-type]
        options = by_stem.get(stem, [])
        if len(options) == 1:
            attach(options[0], pred, "stem")
            continue
        if len(options) > 1:
            counts["ambiguous_stem"] += 1
            listed = ", ".join(e["image"] for e in options[:3]) + (", ..." if len(options) > 3 else "")
            problems.add(pred.source, "ambiguous_stem",
                         f"{pred.image} matches no image path of split {split!r} and its stem {stem!r} is shared "
                         f"by {len(options)} images ({listed}); write the image path as in the datalist")
            continue
        other = next((elsewhere[0][k] for k in keys if k in elsewhere[0]), None) or elsewhere[1].get(stem)
        hint = f" (it is an image of split {other!r})" if other else ""
        counts["unmatched"] += 1
        problems.add(pred.source, "unmatched_prediction", f"{pred.image} matches no image of split {split!r}{hint}")
    return counts


# ------------------------------------------------------------------------------------------- per image


def _image_shape(entry: dict[str, Any], pred: DetectionPrediction) -> tuple[tuple[int, int] | None, str | None]:
    """The image's ``(rows, cols)`` (its file header, else the prediction's ``image_shape``) and, when both are
    known and differ, the mismatch."""
    try:
        header_shape, _ = image_shape_and_spacing(Path(entry["image"]), need_shape=True)
    except Exception:
        header_shape = None
    if header_shape is not None and pred.image_shape is not None and tuple(header_shape) != pred.image_shape:
        hint = " (transposed: (cols, rows)?)" if tuple(header_shape) == pred.image_shape[::-1] else ""
        return header_shape, (f"image_shape {list(pred.image_shape)} differs from the image's {list(header_shape)} "
                              f"({entry['image']}){hint}: the coordinates are not in the original grid")
    return (tuple(header_shape) if header_shape is not None else pred.image_shape), None  # type: ignore[return-value]


def _outside(centers: np.ndarray, shape: tuple[int, int] | None) -> list[str]:
    """The errors of the centres more than a pixel outside the image (``-1 <= row <= rows`` is inside: either
    pixel convention, centres or corners on integer coordinates, fits)."""
    if shape is None or not len(centers):
        return []
    out = ((centers < -1.0) | (centers > np.asarray(shape, dtype=float))).any(axis=1)
    return [f"candidates[{i}]: center {centers[i].tolist()} is outside the image {list(shape)}"
            for i in np.flatnonzero(out)]


def _lesion_mask(lesion: Mapping[str, Any], where: str, base: Path, shape: tuple[int, int] | None,
                 problems: ProblemLog) -> tuple[np.ndarray | None, str | None]:
    """The lesion's usable mask (or ``None``, the problem reported) and its resolved path."""
    path = resolve_datalist_path(lesion.get("mask"), base)
    if path is None:
        return None, None
    fallback = ("the radius rule is used" if _circle(lesion) is not None else "the box is used"
                if _valid_box(lesion.get("box")) is not None else "the lesion is left out")
    try:
        mask = _read_lesion_mask(path, shape)
    except Exception as e:
        problems.add(path, "bad_lesion_mask", f"{e} ({where}); {fallback}")
        return None, path
    if shape is None:
        problems.add(path, "unchecked_lesion_mask", f"the image's shape is unknown (unreadable image, no image_shape "
                     f"in the prediction): the mask is used as it is ({where})")
    return mask, path


def _evaluate_image(entry: dict[str, Any], lesion_types: Sequence[str], base: Path, problems: ProblemLog
                    ) -> tuple[list[dict[str, Any]], np.ndarray]:
    """Hits of one evaluated image: its lesion rows and each candidate's role (``tp``, ``ignored``, ``fp``)."""
    pred: DetectionPrediction = entry["_pred"]
    shape = entry["_shape"]
    scores, centers = pred.scores, pred.centers
    hits_target = np.zeros(len(scores), bool)
    hits_ignored = np.zeros(len(scores), bool)
    rows = []
    for j, lesion in enumerate(entry["_item"].get(LESIONS) or []):
        lesion_type = lesion.get("type")
        target = lesion_type in lesion_types
        where = f"{entry['image']}#lesions[{j}]"
        bad = _bad_geometry(lesion)
        if bad:
            problems.add(where, "bad_lesion_geometry", f"unusable {', '.join(bad)} ({lesion_type})")
        mask, mask_path = _lesion_mask(lesion, where, base, shape, problems)
        hits, rule = hits_lesion(centers, lesion, mask)
        row = _lesion_row(entry, j, lesion, rule, mask_path)
        rows.append(row)
        if rule == "none":
            row["role"] = "no_position" if target else "ignored_type"
            if target:
                problems.add(where, "lesion_without_position",
                             f"{lesion_type} without mask, center+radius or box: left out of the targets")
            continue
        if not target:
            row["role"] = "ignored_type"
            hits_ignored |= hits
            continue
        hits_target |= hits
        row["n_hits"] = int(hits.sum())
        row["hit"] = bool(hits.any())
        if row["hit"]:
            best = int(np.flatnonzero(hits)[np.argmax(scores[hits])])  # the first of the highest scores
            row["score"], row["hit_by"] = float(scores[best]), best
    roles = np.where(hits_target, "tp", np.where(hits_ignored, "ignored", "fp"))
    return rows, roles


def _lesion_row(entry: Mapping[str, Any], index: int, lesion: Mapping[str, Any], rule: str | None,
                mask_path: str | None) -> dict[str, Any]:
    return {"image": entry["image"], "patient_id": entry["patient_id"], "lesion_index": index,
            "type": lesion.get("type"), "pathology": lesion.get("pathology"),
            "role": "target", "rule": rule, "image_status": entry["status"], "hit": None, "score": None,
            "hit_by": None, "n_hits": None, "mask": mask_path, "_group": entry["_group"]}


def _unevaluated_lesion_rows(entry: Mapping[str, Any], lesion_types: Sequence[str]) -> list[dict[str, Any]]:
    """The lesion rows of an image that is not evaluated (no hit, no rule: its masks are not read)."""
    rows = []
    for j, lesion in enumerate(entry["_item"].get(LESIONS) or []):
        row = _lesion_row(entry, j, lesion, None, None)
        if lesion.get("type") not in lesion_types:
            row["role"] = "ignored_type"
        elif not (_has_position(lesion) or lesion.get("mask")):
            row["role"] = "no_position"
        rows.append(row)
    return rows


# ------------------------------------------------------------------------------------------- bootstrap


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


def _bootstrap(data: _FrocData, groups: Sequence[str], n_resamples: int, seed: int) -> dict[str, dict[str, Any]]:
    """``{figure: {"estimate", "ci", "n_invalid"}}`` for every figure of :meth:`_FrocData.__call__`, all from
    the same patient resamples."""
    shared = SharedResamples(data)
    point = shared(np.arange(data.n_images))
    flat = {}
    for name in point:
        b = bootstrap_by_group(lambda idx, name=name: shared(idx)[name], groups, int(n_resamples), _CONFIDENCE,
                               seed)
        flat[name] = {"estimate": b["estimate"], "ci": [b["low"], b["high"]], "n_invalid": b["n_invalid"]}
    return flat


def _nest_metrics(flat: Mapping[str, Any], groups: Sequence[str], fp_rates: Sequence[float]) -> dict[str, Any]:
    def one(group: str) -> dict[str, Any]:
        return {"cpm": flat[f"{group}/cpm"],
                "sensitivity": {f"{r:g}": flat[f"{group}/sensitivity/{r:g}"] for r in fp_rates},
                "max_sensitivity": flat[f"{group}/max_sensitivity"]}

    return {_ALL: {**one(_ALL), "fp_per_image": flat[f"{_ALL}/fp_per_image"]},
            "by_type": {g: one(g) for g in groups if g != _ALL}}


# --------------------------------------------------------------------------------------------- outputs


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


def _rate_label(rate: float) -> str:
    return f"fp_at_{rate:g}"


def _num(x: Any) -> str:
    return "-" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.3f}"


def _ci(m: Mapping[str, Any]) -> str:
    return f"[{_num(m['ci'][0])}, {_num(m['ci'][1])}]"


def _visible_curve(fps: np.ndarray, sensitivity: np.ndarray, xlim: tuple[float, float]
                   ) -> tuple[np.ndarray, np.ndarray, float]:
    """The curve's points (FP/image ascending, vertical steps kept) inside ``xlim``, with its interpolated values
    at the limits, and the FP/image where it ends (every candidate kept)."""
    x, y = fps[::-1], sensitivity[::-1]
    inside = (x > xlim[0]) & (x < xlim[1])
    end = float(x[-1])
    right = min(max(end, xlim[0]), xlim[1])
    xs = np.concatenate([[xlim[0]], x[inside], [right]])
    ys = np.concatenate([np.interp([xlim[0]], x, y), y[inside], np.interp([right], x, y)])
    return xs, ys, end


def _plot_froc(data: _FrocData, flat: Mapping[str, Mapping[str, Any]], types: Sequence[str],
               fp_rates: Sequence[float], xlim: tuple[float, float]) -> Any:
    """Sensitivity against FP/image (log2 axis): the overall curve with its 95% CI band and marks at the rates,
    and one line per lesion type; dashed past the curve's last point (every candidate kept)."""
    n_lesions = data.lesion_scores[_ALL].size
    axes = Axes(f"FROC, {data.n_images} images, {n_lesions} target lesions", "false positives per image (log2)",
                "sensitivity (lesion level)", xlim=xlim, xscale="log2")
    grid = data.band_rates
    axes.band(grid, [flat[f"band/{i}"]["ci"][0] for i in range(grid.size)],
              [flat[f"band/{i}"]["ci"][1] for i in range(grid.size)], lighten(COLOURS[0], 0.7))
    legend = []
    for n, group in enumerate([_ALL, *types]):
        colour = COLOURS[n % len(COLOURS)]
        count = data.lesion_scores[group].size
        if count and data.n_images:
            fps, sensitivity, _ = data.curve(group)
            xs, ys, end = _visible_curve(fps, sensitivity, xlim)
            width = 2 if group == _ALL else 1
            axes.line(xs, ys, colour, width=width)
            if end < xlim[1]:
                axes.dashed([max(end, xlim[0]), xlim[1]], [ys[-1], ys[-1]], colour, width=width)
        if group == _ALL:
            for rate in fp_rates:
                axes.marker(rate, flat[f"{_ALL}/sensitivity/{rate:g}"]["estimate"], colour)
        cpm = flat[f"{group}/cpm"]
        legend.append((f"{group} ({count} lesion{'' if count == 1 else 's'}): CPM {_num(cpm['estimate'])} "
                       f"{_ci(cpm)}", colour))
    legend += [("band: 95% CI (patient bootstrap), dots: the FP rates", (90, 90, 90)),
               ("dashed: past the last point (every candidate kept)", (90, 90, 90))]
    if not n_lesions:
        legend.append(("undefined: no target lesion in the evaluated images", (200, 0, 0)))
    axes.text_lines(legend, "lower right", background=(255, 255, 255))
    return axes.image


# ------------------------------------------------------------------------------------------------- main


def _check_arguments(split: str, lesion_types: Sequence[str] | str, fp_rates: Sequence[float] | float
                     ) -> tuple[tuple[str, ...], tuple[float, ...]]:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if isinstance(lesion_types, str):
        lesion_types = [t.strip() for t in lesion_types.split(",") if t.strip()]
    types = tuple(dict.fromkeys(str(t) for t in lesion_types))
    unknown = [t for t in types if t not in LESION_TYPES]
    if not types or unknown:
        raise ValueError(f"lesion_types must be some of {LESION_TYPES}, got {list(lesion_types)}")
    if isinstance(fp_rates, (int, float)):
        fp_rates = (fp_rates,)
    rates = tuple(sorted({float(r) for r in fp_rates}))
    if not rates or not all(math.isfinite(r) and r > 0 for r in rates):
        raise ValueError(f"fp_rates must be positive numbers, got {list(fp_rates)}")
    return types, rates


def evaluate_detection(
    pred: str | os.PathLike,
    label: str | os.PathLike,
    out: str | os.PathLike,
    split: str = "test",
    lesion_types: Sequence[str] | str = DEFAULT_LESION_TYPES,
    fp_rates: Sequence[float] | float = FP_RATES,
    n_resamples: int = 2000,
    seed: int = 0,
    overwrite: bool = False,
) -> DetectionReport:
    """Evaluate per-image detections against a datalist split (lesion-level FROC) and write :data:`REPORT_FILES`.

    Args:
        pred: the folder of per-image prediction JSON files (the format of the module docstring).
        label: the datalist JSON; lesions from the items' ``lesions``, patients from ``patient_id``.
        out: the report folder (created when missing).
        split: the split of ``label`` that ``pred`` holds detections for.
        lesion_types: the target lesion types (others are ignored); a list or a comma-separated string.
        fp_rates: the FP/image rates of the sensitivities and their mean (CPM).
        n_resamples: bootstrap draws for the 95% CIs (resampling patients).
        seed: bootstrap seed (the same draws for every figure).
        overwrite: replace existing report files (otherwise ``FileExistsError`` before any work).

    Returns:
        a :class:`DetectionReport`.

    Raises:
        FileNotFoundError / NotADirectoryError / ValueError: a missing input, ``pred`` not a folder or without
            any ``.json`` file, an empty split, a bad argument, a report file that would replace the datalist.
        FileExistsError: a report file exists and ``overwrite`` is False.
    """
    types, rates = _check_arguments(split, lesion_types, fp_rates)
    pred_dir, label_path, out_dir = Path(pred), Path(label), Path(out)
    if not label_path.is_file():
        raise FileNotFoundError(f"{label_path}: label datalist not found")
    if not pred_dir.exists():
        raise FileNotFoundError(f"{pred_dir}: prediction folder not found")
    if not pred_dir.is_dir():
        raise NotADirectoryError(f"{pred_dir}: expected a folder of per-image .json detection files")
    ensure_outside_inputs(out_dir, pred_dir, label_path)
    paths = {key: out_dir / name for key, name in REPORT_FILES.items()}
    for path in paths.values():
        if path.resolve() == label_path.resolve():
            raise ValueError(f"{path}: the report would replace the label datalist; choose another out folder")
        ensure_writable(path, overwrite)
    files = _prediction_files(pred_dir, {os.path.realpath(p) for p in paths.values()})
    if not files:
        raise ValueError(f"{pred_dir}: no .json prediction file found")

    datalist = load_datalist(label_path)
    if not datalist[split]:
        raise ValueError(f"{label_path}: split {split!r} has no item to evaluate")
    base = label_path.resolve().parent
    problems = ProblemLog()
    entries, by_key = _item_entries(datalist[split], base, label_path, split, problems)
    file_counts = _match_predictions(files, by_key, base, split, _other_splits(datalist, split, base), problems)

    # ---- per image: usable prediction, hits
    lesion_rows: list[dict[str, Any]] = []
    fp_scores, image_lesions, evaluated = [], [], []
    for entry in entries:
        pred_file: DetectionPrediction | None = entry["_pred"]
        if entry["status"] == "ok" and pred_file is None:
            entry["status"], entry["detail"] = "missing_prediction", f"no prediction file in {pred_dir}"
            problems.add(entry["image"], "missing_prediction", entry["detail"])
        elif entry["status"] == "ok" and pred_file.kind is not None:
            entry["status"], entry["detail"] = pred_file.kind, pred_file.error or ""
            problems.add(pred_file.source, pred_file.kind, f"{pred_file.error} ({entry['image']})")
        elif entry["status"] == "ok":
            entry["_shape"], mismatch = _image_shape(entry, pred_file)
            outside = _outside(pred_file.centers, entry["_shape"])
            if mismatch or outside:
                kind = "image_shape_mismatch" if mismatch else "bad_candidate"
                entry["status"], entry["detail"] = kind, mismatch or _candidate_summary(outside)
                problems.add(pred_file.source, kind, entry["detail"])
        if entry["status"] != "ok":
            lesion_rows += _unevaluated_lesion_rows(entry, types)
            continue
        rows, roles = _evaluate_image(entry, types, base, problems)
        lesion_rows += rows
        scores = pred_file.scores
        entry["_fp"] = np.sort(scores[roles == "fp"])[::-1]
        entry.update({"n_candidates": len(scores), "n_tp_candidates": int((roles == "tp").sum()),
                      "n_ignored_candidates": int((roles == "ignored").sum()), "n_fp": int((roles == "fp").sum()),
                      "n_target_lesions": sum(r["role"] == "target" for r in rows),
                      "n_lesions_hit": sum(bool(r["hit"]) for r in rows)})
        fp_scores.append(entry["_fp"])
        image_lesions.append([(r["type"], r["score"] if r["hit"] else math.nan) for r in rows
                              if r["role"] == "target"])
        evaluated.append(entry)

    # ---- FROC with patient bootstrap CIs (every figure from the same draws)
    xlim = (min(rates) / 2.0, max(rates) * 2.0)
    band_rates = np.unique(np.concatenate([np.geomspace(*xlim, _BAND_POINTS), rates]))
    data = _FrocData(fp_scores, image_lesions, [_ALL, *types], rates, band_rates)
    flat = _bootstrap(data, [e["_group"] for e in evaluated], n_resamples, seed)
    metrics = _nest_metrics(flat, [_ALL, *types], rates)
    fps, sensitivity, thresholds = data.curve(_ALL)
    operating = _operating_points(fps, sensitivity, thresholds, rates) if data.n_images else {}
    for entry in entries:
        fp = entry.get("_fp")
        entry["max_fp_score"] = float(fp[0]) if fp is not None and fp.size else None
        entry["fp_scores"] = ";".join(f"{s:.6g}" for s in fp) if fp is not None else None
        for rate in rates:
            threshold = operating.get(f"{rate:g}", {}).get("threshold")  # None: nothing is kept at that rate
            kept = 0 if threshold is None or fp is None else int((fp >= threshold).sum())
            entry[_rate_label(rate)] = None if fp is None else kept

    # ---- counts
    targets = [r for r in lesion_rows if r["role"] == "target" and r["image_status"] == "ok"]
    not_ok = [e for e in entries if e["status"] != "ok"]
    counts = {
        "images": len(entries),
        "patients": len({e["_group"] for e in entries}),
        "evaluated": len(evaluated),
        "evaluated_patients": len({e["_group"] for e in evaluated}),
        "missing": len(not_ok),
        "missing_by_reason": dict(Counter(e["status"] for e in not_ok)),
        "evaluated_without_target_lesion": sum(e["n_target_lesions"] == 0 for e in evaluated),
        "lesions": {t: sum(r["type"] == t for r in targets) for t in types},
        "lesions_hit": {t: sum(r["type"] == t and bool(r["hit"]) for r in targets) for t in types},
        "lesions_without_position": {t: n for t, n in Counter(
            r["type"] for r in lesion_rows if r["role"] == "no_position" and r["image_status"] == "ok").items()},
        "lesions_on_unevaluated_images": {t: n for t, n in Counter(
            r["type"] for r in lesion_rows if r["role"] == "target" and r["image_status"] != "ok").items()},
        "ignored_lesions": dict(Counter(r["type"] for r in lesion_rows
                                        if r["role"] == "ignored_type" and r["image_status"] == "ok")),
        "hit_rule": dict(Counter(r["rule"] for r in targets)),
        "candidates": sum(e["n_candidates"] for e in evaluated),
        "tp_candidates": sum(e["n_tp_candidates"] for e in evaluated),
        "ignored_candidates": sum(e["n_ignored_candidates"] for e in evaluated),
        "fp_candidates": sum(e["n_fp"] for e in evaluated),
        "prediction_files": file_counts,
    }
    summary: dict[str, Any] = {
        "task": "detection",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "inputs": {"pred": str(pred_dir.resolve()), "label": str(label_path.resolve()), "split": split},
        "settings": {"lesion_types": list(types), "fp_rates": list(rates), "n_resamples": int(n_resamples),
                     "seed": int(seed), "confidence": _CONFIDENCE,
                     "bootstrap": "percentile, resampling patients with replacement (all their images); every "
                                  "figure from the same draws"},
        "counts": counts,
        "metrics": metrics,
        "operating_points": operating,
        "conventions": {
            "hit": "a candidate hits a lesion when its centre is inside the lesion's mask, else within its radius "
                   "of its centre, else inside its box; a lesion's score is the highest score of the candidates "
                   "hitting it; one hit per lesion (further candidates on it are not false positives)",
            "false_positive": "a candidate hitting no target and no ignored lesion; FP/image divides by every "
                              "evaluated image, with or without lesions",
            "ignored": f"lesions of types other than {list(types)} are ignored: a candidate on them is neither "
                       "a true nor a false positive",
            "no_position": "target lesions without mask, centre+radius or box are left out (counted); a "
                           "candidate on them is a false positive",
            "per_type": "per-type sensitivities use that type's lesions against the same shared false positives",
            "froc": "monai.metrics.compute_froc_curve_data / compute_froc_score (CAMELYON16): linear "
                    "interpolation of the curve; a rate beyond the last point (every candidate kept) reads the "
                    "last sensitivity; CPM is the mean over fp_rates",
            "ties": "candidates of equal score enter together (one operating point); hit_by is the first of the "
                    "highest-scoring candidates hitting the lesion",
            "missing": "images without a usable prediction file are excluded (their lesions are not counted as "
                       "missed, they are not in the FP/image denominator); see counts.missing",
            "operating_points": "per rate, the lowest threshold with at most that many FP/image (score >= "
                                "threshold is a detection), its FP/image and sensitivity (not interpolated)",
        },
        "problems": {"counts": problems.counts(), "file": str(paths["problems"]),
                     "first": [str(p) for p in problems.problems[:_MAX_LISTED_PROBLEMS]]},
        "files": {k: str(v) for k, v in paths.items()},
        "versions": {"mammo_monai": __version__, "monai": monai_version},
    }

    # ---- files
    out_dir.mkdir(parents=True, exist_ok=True)
    image_fields = ["image", "patient_id", "status", "detail", "prediction", "match", "n_candidates",
                    "n_target_lesions", "n_lesions_hit", "n_tp_candidates", "n_ignored_candidates", "n_fp",
                    "max_fp_score", *(_rate_label(r) for r in rates), "fp_scores"]
    images = [{k: e.get(k) for k in image_fields} for e in entries]
    lesions = [{k: r[k] for k in PER_LESION_FIELDS} for r in lesion_rows]
    write_csv(images, paths["per_image"], image_fields)
    write_csv(lesions, paths["per_lesion"], PER_LESION_FIELDS)
    write_csv(_curve_rows(data, types), paths["curve"],
              ["threshold", "n_fp", "fp_per_image", "sensitivity", *(f"sensitivity_{t}" for t in types)])
    problems.write_csv(paths["problems"])
    _plot_froc(data, flat, types, rates, xlim).save(paths["froc"])
    write_json(summary, paths["metrics"])
    return DetectionReport(images=images, lesions=lesions, summary=summary, problems=problems, paths=paths)


def format_detection_summary(report: DetectionReport) -> str:
    """A few lines for a terminal: counts, the sensitivity at each FP rate and CPM with their CIs (overall and
    per lesion type), problems, files.

    Example output::

        detection of mass, calcification: evaluated 40 of 42 images (20 patients); missing 2 (missing_prediction: 2)
        target lesions 42 (mass 30, calcification 12); without position 3 (left out); ignored 2
        candidates 812: 39 on targets, 3 on ignored lesions, 770 false positives (19.25 per image)
        FP/image  all (42)               mass (30)              calcification (12)
        0.125     0.310 [0.200, 0.410]   ...
        CPM       0.612 [0.540, 0.690]   ...
    """
    s = report.summary
    counts, m = s["counts"], s["metrics"]
    types = s["settings"]["lesion_types"]
    missing = ", ".join(f"{k}: {v}" for k, v in counts["missing_by_reason"].items())
    lesions = counts["lesions"]
    no_position = sum(counts["lesions_without_position"].values())
    ignored = sum(counts["ignored_lesions"].values())
    fp_per_image = m["all"]["fp_per_image"]["estimate"]
    lines = [f"detection of {', '.join(types)}: evaluated {counts['evaluated']} of {counts['images']} images "
             f"({counts['evaluated_patients']} patients); missing {counts['missing']}"
             + (f" ({missing})" if missing else ""),
             f"target lesions {sum(lesions.values())} (" + ", ".join(f"{t} {n}" for t, n in lesions.items())
             + f"); without position {no_position} (left out); ignored {ignored}",
             f"candidates {counts['candidates']}: {counts['tp_candidates']} on targets, {counts['ignored_candidates']} "
             f"on ignored lesions, {counts['fp_candidates']} false positives ({_num(fp_per_image)} per image)"]
    groups = [("all", m["all"], sum(lesions.values()))] + [(t, m["by_type"][t], lesions[t]) for t in types]
    width = 24
    lines.append(f"{'FP/image':<10}" + "".join(f"{f'{name} ({n})':<{width}}" for name, _, n in groups).rstrip())
    for rate in s["settings"]["fp_rates"]:
        cells = [g["sensitivity"][f"{rate:g}"] for _, g, _ in groups]
        lines.append(f"{rate:<10g}" + "".join(f"{_num(c['estimate']) + ' ' + _ci(c):<{width}}"
                                              for c in cells).rstrip())
    lines.append(f"{'CPM':<10}" + "".join(f"{_num(g['cpm']['estimate']) + ' ' + _ci(g['cpm']):<{width}}"
                                          for _, g, _ in groups).rstrip())
    lines.append(f"{'hit (any)':<10}" + "".join(f"{_num(g['max_sensitivity']['estimate']):<{width}}"
                                                for _, g, _ in groups).rstrip())
    if len(report.problems):
        kinds = ", ".join(f"{k}: {v}" for k, v in report.problems.counts().items())
        lines.append(f"problems: {len(report.problems)} ({kinds}) -> {report.paths.get('problems')}")
    lines += [f"wrote {path}" for path in report.paths.values()]
    return "\n".join(lines)
