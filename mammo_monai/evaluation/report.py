"""Writing evaluation reports: JSON (NaN-safe), CSV rows, and contact sheets of image overlays.

Shared by the segmentation, classification and detection evaluators. JSON has no NaN/inf, so they are
written as ``null``; CSV cells hold ``""`` for NaN/None. The overlay drawing (a mammogram downsampled into
a tile, windowed to 8 bits, mask contours in colour, a caption) lives in
:mod:`mammo_monai.inference.overlay`, which the bundles' inference writers use too; it is re-exported here.

Example:
    >>> import tempfile, os
    >>> scratch = tempfile.TemporaryDirectory(); d = scratch.name
    >>> _ = write_json({"dice": float("nan"), "n": np.int64(3)}, os.path.join(d, "s.json"))
    >>> open(os.path.join(d, "s.json")).read().split()
    ['{', '"dice":', 'null,', '"n":', '3', '}']
    >>> scratch.cleanup()
    >>> tile = render_overlay(np.zeros((100, 80)), [(np.ones((100, 80), bool), GT_COLOUR)], caption="x", size=64)
    >>> tile.size
    (64, 80)
"""

from __future__ import annotations

import csv
import json
import math
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mammo_monai.inference.overlay import (
    CAPTION_HEIGHT,
    GT_COLOUR,
    PRED_COLOUR,
    contour,
    render_overlay,
    tile_grid,
    window_to_uint8,
)

__all__ = [
    "CAPTION_HEIGHT",
    "GT_COLOUR",
    "PRED_COLOUR",
    "contour",
    "jsonable",
    "render_overlay",
    "tile_grid",
    "window_to_uint8",
    "write_csv",
    "write_json",
]



def jsonable(obj: Any) -> Any:
    """``obj`` with numpy scalars/arrays, paths and tuples made JSON types, and NaN/inf as ``None``."""
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [jsonable(v) for v in obj.tolist()]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, os.PathLike):
        return str(obj)
    return obj


def _atomic_write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json(obj: Any, path: str | os.PathLike) -> Path:
    """Write ``obj`` as indented JSON (via :func:`jsonable`: NaN/inf -> ``null``), atomically."""
    return _atomic_write_text(Path(path), json.dumps(jsonable(obj), indent=1, allow_nan=False) + "\n")


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return "" if not math.isfinite(value) else repr(round(value, 6))
    return value


def write_csv(rows: Iterable[Mapping[str, Any]], path: str | os.PathLike, fieldnames: Sequence[str]) -> Path:
    """Write ``rows`` (dicts; keys beyond ``fieldnames`` ignored) as CSV with a header, atomically.
    Floats are rounded to 6 decimals; NaN, inf and ``None`` become empty cells."""
    import io

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(fieldnames), extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(row.get(k)) for k in fieldnames})
    return _atomic_write_text(Path(path), buffer.getvalue())


