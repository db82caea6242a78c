"""Detection geometry, pure (no file is read): the hit rule of a candidate centre on a lesion (mask, else
centre + radius, else box) and the checks of a lesion record's position fields."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .predictions import _finite_number, _pair


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
