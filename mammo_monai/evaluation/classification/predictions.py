"""Classification prediction files: reading and checking a CSV/JSON file of class probabilities (the format of
:mod:`mammo_monai.evaluation.classification`)."""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...data.labels import LESION_LEVEL, LabelSet
from ...data.schema import IMAGE

PROB_PREFIX = "prob_"

LESION_INDEX = "lesion_index"

#: how far a multi-class row's probabilities may sum from 1
SUM_TOLERANCE = 1e-3



@dataclass
class PredictionRow:
    """One row of a prediction file, as read by :func:`read_predictions`.

    Attributes:
        source: where it is: ``file:line`` (CSV, the header is line 1) or ``file#[index]`` (JSON).
        image: the ``image`` value as written (``None`` when missing).
        lesion_index: the lesion index (lesion-level tasks; ``None``: a normal-tissue row or image level).
        probs: one probability per class (``None`` when unusable, see ``kind``/``error``).
        kind: ``None``, or the problem kind of an unusable row (``bad_probability``, ``bad_lesion_index``,
            ``missing_image_path``).
        error: what is wrong with the row.
    """

    source: str
    image: str | None
    lesion_index: int | None = None
    probs: np.ndarray | None = None
    kind: str | None = None
    error: str | None = None



def _prob_columns(fields: Sequence[str], ls: LabelSet, path: Path) -> tuple[list[str], bool]:
    """The probability columns to read, in class order, and whether only the positive class is given."""
    given = [f[len(PROB_PREFIX):] for f in fields if f.startswith(PROB_PREFIX)]
    expected = ", ".join(PROB_PREFIX + c for c in ls.classes)
    unknown = [c for c in given if c not in ls.classes]
    if unknown:
        raise ValueError(f"{path}: column(s) {', '.join(PROB_PREFIX + c for c in unknown)} are not classes of task "
                         f"{ls.name!r}; expected {expected}")
    if set(given) == set(ls.classes):
        return [PROB_PREFIX + c for c in ls.classes], False
    if ls.is_binary and given == [ls.positive]:
        return [PROB_PREFIX + ls.positive], True
    alone = f" (or {PROB_PREFIX}{ls.positive} alone)" if ls.is_binary else ""
    raise ValueError(f"{path}: probability columns {[PROB_PREFIX + c for c in given]} do not cover task "
                     f"{ls.name!r}; expected {expected}{alone}")



def _parse_number(value: Any, bad: str) -> float | None:
    """A cell as a float; ``None`` for an empty cell; ``ValueError(bad)`` for a boolean or text that is no number."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ValueError(bad)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(bad) from None


def _parse_lesion_index(value: Any) -> int | None:
    number = _parse_number(value, f"lesion_index {value!r} is not an integer")
    if number is None:
        return None
    if not number.is_integer() or number < 0:
        raise ValueError(f"lesion_index {value!r} is not an integer >= 0")
    return int(number)



def _parse_probs(raw: Mapping[str, Any], columns: Sequence[str], positive_only: bool) -> np.ndarray:
    values = []
    for column in columns:
        value = raw.get(column)
        number = _parse_number(value, f"{column} = {value!r} is not a number")
        if number is None:
            raise ValueError(f"{column} is missing")
        if not math.isfinite(number):
            raise ValueError(f"{column} = {value!r} is not finite")
        if not 0.0 <= number <= 1.0:
            raise ValueError(f"{column} = {number} is outside [0, 1]")
        values.append(number)
    if positive_only:
        return np.array([1.0 - values[0], values[0]])
    total = float(sum(values))
    if abs(total - 1.0) > SUM_TOLERANCE:
        raise ValueError(f"probabilities sum to {total:.6g}, not 1 (tolerance {SUM_TOLERANCE})")
    return np.array(values)



def read_predictions(path: str | os.PathLike, ls: LabelSet) -> list[PredictionRow]:
    """Read a prediction file (CSV or JSON, the format of the module docstring) for label set ``ls``.

    A row whose values are unusable comes back with ``kind``/``error`` set (the caller reports it); a file
    that cannot be read as a whole raises.

    Raises:
        FileNotFoundError: no such file.
        ValueError: (naming the file) not ``.csv``/``.json``, not parseable, no ``image`` column, probability
            columns that do not fit the task, no ``lesion_index`` column for a lesion-level task.

    Example:
        >>> import tempfile
        >>> from mammo_monai.data.labels import label_set
        >>> scratch = tempfile.TemporaryDirectory(); f = Path(scratch.name) / "p.csv"
        >>> _ = f.write_text("image,prob_malignant\\na.png,0.8\\nb.png,1.5\\n")
        >>> rows = read_predictions(f, label_set("malignant"))
        >>> rows[0].probs.tolist(), rows[1].kind, rows[1].error, rows[1].source.endswith("p.csv:3")
        ([0.19999999999999996, 0.8], 'bad_probability', 'prob_malignant = 1.5 is outside [0, 1]', True)
        >>> scratch.cleanup()
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: prediction file not found")
    suffix = path.suffix.lower()
    raw_rows: list[tuple[str, Mapping[str, Any]]] = []
    if suffix == ".csv":
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            fields = list(reader.fieldnames or [])
            for row in reader:
                raw_rows.append((f"{path}:{reader.line_num}", row))
    elif suffix == ".json":
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON ({e})") from e
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise ValueError(f"{path}: expected a JSON list of row objects ({{'image': ..., 'prob_<class>': ...}})")
        fields = list(dict.fromkeys(k for r in data for k in r))
        raw_rows = [(f"{path}#[{i}]", r) for i, r in enumerate(data)]
    else:
        raise ValueError(f"{path}: expected a .csv or .json prediction file")
    if IMAGE not in fields:
        raise ValueError(f"{path}: no {IMAGE!r} column")
    lesion_level = ls.level == LESION_LEVEL
    if lesion_level and LESION_INDEX not in fields:
        raise ValueError(f"{path}: task {ls.name!r} is lesion-level: a {LESION_INDEX!r} column is needed")
    columns, positive_only = _prob_columns(fields, ls, path)

    rows = []
    for source, raw in raw_rows:
        image = raw.get(IMAGE)
        image = None if image is None or not str(image).strip() else str(image).strip()
        row = PredictionRow(source=source, image=image)
        rows.append(row)
        if image is None:
            row.kind, row.error = "missing_image_path", f"row has no {IMAGE!r}"
            continue
        if lesion_level:
            try:
                row.lesion_index = _parse_lesion_index(raw.get(LESION_INDEX))
            except ValueError as e:
                row.kind, row.error = "bad_lesion_index", str(e)
                continue
        try:
            row.probs = _parse_probs(raw, columns, positive_only)
        except ValueError as e:
            row.kind, row.error = "bad_probability", str(e)
    return rows
