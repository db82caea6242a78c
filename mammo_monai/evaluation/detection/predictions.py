"""Detection prediction files: reading and checking one per-image candidate JSON file (the format of
:mod:`mammo_monai.evaluation.detection`), and listing the files of a prediction folder."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...data.schema import IMAGE

_MAX_CANDIDATE_ERRORS = 5  # bad candidates named per file (all are counted)


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
