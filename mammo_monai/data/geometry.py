"""Lesion geometry (centre, radius, box) from a binary mask, computed one way for every source.

Example:
    >>> import numpy as np
    >>> m = np.zeros((8, 8), bool); m[2:5, 3:7] = True
    >>> lesion_geometry_from_mask(m)
    ([3.0, 4.5], 1.8028, [2, 3, 5, 7])
"""

from __future__ import annotations

import numpy as np

__all__ = ["lesion_geometry_from_mask"]


def lesion_geometry_from_mask(mask: np.ndarray) -> tuple[list[float], float, list[int]]:
    """Centre, radius and box of the non-zero pixels of a 2D ``mask``.

    Returns:
        ``center``: the centroid ``[row, col]`` (floats, rounded to 4 decimals);
        ``radius``: the largest distance from the centroid to a mask pixel centre (rounded to 4 decimals),
        so the circle of that radius around the centre covers every mask pixel centre;
        ``box``: the half-open bounding box ``[row0, col0, row1, col1]``.

    Raises:
        ValueError: the mask is not 2D or has no non-zero pixel.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"expected a 2D mask, got shape {mask.shape}")
    rows, cols = np.nonzero(mask)
    if rows.size == 0:
        raise ValueError("the mask is empty")
    r0, r1 = int(rows.min()), int(rows.max()) + 1
    c0, c1 = int(cols.min()), int(cols.max()) + 1
    cr, cc = float(rows.mean()), float(cols.mean())
    radius = float(np.sqrt(((rows - cr) ** 2 + (cols - cc) ** 2).max()))
    return [round(cr, 4), round(cc, 4)], round(radius, 4), [r0, c0, r1, c1]
