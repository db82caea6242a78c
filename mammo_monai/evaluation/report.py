"""Writing evaluation reports: JSON (NaN-safe), CSV rows, and contact sheets of image overlays.

Shared by the segmentation, classification and detection evaluators. The writers (JSON has no NaN/inf, so they
are written as ``null``; CSV cells hold ``""`` for NaN/None) live in :mod:`mammo_monai.io.writers`, where the
inference writers reach them too; the overlay drawing (a mammogram downsampled into a tile, windowed to 8 bits,
mask contours in colour, a caption) lives in :mod:`mammo_monai.inference.overlay`, which the bundles' inference
writers use. Both are re-exported here.

Example:
    >>> import tempfile, os
    >>> import numpy as np
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

from mammo_monai.inference.overlay import (
    CAPTION_HEIGHT,
    GT_COLOUR,
    PRED_COLOUR,
    contour,
    render_overlay,
    tile_grid,
    window_to_uint8,
)
from mammo_monai.io.writers import atomic_write_text, jsonable, write_csv, write_json

#: the old private name (engines used it before the writers moved down to mammo_monai.io.writers)
_atomic_write_text = atomic_write_text

__all__ = [
    "CAPTION_HEIGHT",
    "GT_COLOUR",
    "PRED_COLOUR",
    "atomic_write_text",
    "contour",
    "jsonable",
    "render_overlay",
    "tile_grid",
    "window_to_uint8",
    "write_csv",
    "write_json",
]
