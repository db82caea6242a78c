"""Writing evaluation reports: JSON (NaN-safe), CSV rows, and contact sheets of image overlays.

Shared by the segmentation, classification and detection evaluators. JSON has no NaN/inf, so they are
written as ``null``; CSV cells hold ``""`` for NaN/None. Overlays are drawn with Pillow only (no
matplotlib): a mammogram downsampled into a fixed tile and windowed to 8 bits, with mask contours in
colour and a caption under it.

Example:
    >>> import tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> _ = write_json({"dice": float("nan"), "n": np.int64(3)}, os.path.join(d, "s.json"))
    >>> open(os.path.join(d, "s.json")).read().split()
    ['{', '"dice":', 'null,', '"n":', '3', '}']
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
from PIL import Image, ImageDraw, ImageFont

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

GT_COLOUR = (0, 230, 0)  # ground truth: green
PRED_COLOUR = (255, 40, 40)  # prediction: red
CAPTION_HEIGHT = 16  # pixels under each tile for its caption


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


def window_to_uint8(image: np.ndarray, low_percentile: float = 0.5, high_percentile: float = 99.5) -> np.ndarray:
    """Window ``image`` between two percentiles of its values to ``uint8`` (a flat image gives zeros)."""
    image = np.asarray(image, dtype=np.float32)
    if image.size == 0:
        return np.zeros(image.shape, np.uint8)
    lo, hi = np.percentile(image, [low_percentile, high_percentile])
    if hi <= lo:
        return np.zeros(image.shape, np.uint8)
    return (np.clip((image - lo) / (hi - lo), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def contour(mask: np.ndarray) -> np.ndarray:
    """The inner boundary of a boolean mask: foreground pixels with a 4-neighbour in the background
    (pixels on the array's edge count as touching background).

    Example:
        >>> m = np.zeros((5, 5), bool); m[1:4, 1:4] = True
        >>> int(contour(m).sum())  # the 3x3 square minus its centre
        8
    """
    mask = np.asarray(mask, dtype=bool)
    padded = np.pad(mask, 1, constant_values=False)
    interior = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    return mask & ~interior


def _fit(shape: Sequence[int], size: int) -> tuple[int, int]:
    """``(rows, cols)`` of an image of ``shape`` scaled to fit in ``size`` x ``size`` (at least 1 px)."""
    rows, cols = int(shape[0]), int(shape[1])
    scale = size / max(rows, cols, 1)
    return max(1, round(rows * scale)), max(1, round(cols * scale))


def _resize(array: np.ndarray, rows: int, cols: int, resample: int) -> np.ndarray:
    return np.asarray(Image.fromarray(np.asarray(array, dtype=np.float32), mode="F").resize((cols, rows), resample))


def render_overlay(
    image: np.ndarray | None,
    masks: Sequence[tuple[np.ndarray, tuple[int, int, int]]],
    caption: str = "",
    size: int = 256,
    shape: Sequence[int] | None = None,
) -> Image.Image:
    """One overlay tile: ``image`` fitted into ``size`` x ``size`` (aspect kept, black border), windowed,
    each ``(mask, colour)`` drawn as a contour, and ``caption`` in a strip of :data:`CAPTION_HEIGHT`
    pixels below. Returns an RGB image of ``size`` wide and ``size + CAPTION_HEIGHT`` high.

    Masks are shrunk by area averaging and any covered display pixel counts as foreground, so a lesion
    much smaller than the downsampling factor still shows. ``image=None`` (unreadable) draws the contours
    on black; ``shape`` then gives the pixel grid (default: the first mask's).
    """
    if shape is None:
        shape = image.shape[:2] if image is not None else (masks[0][0].shape if masks else (size, size))
    rows, cols = _fit(shape, size)
    if image is not None:
        grey = window_to_uint8(_resize(image, rows, cols, Image.Resampling.BOX))
    else:
        grey = np.zeros((rows, cols), np.uint8)
    rgb = np.repeat(grey[:, :, None], 3, axis=2)
    for mask, colour in masks:
        small = _resize(np.asarray(mask, dtype=np.float32), rows, cols, Image.Resampling.BOX) > 0
        rgb[contour(small)] = colour
    tile = Image.new("RGB", (size, size + CAPTION_HEIGHT), (0, 0, 0))
    tile.paste(Image.fromarray(rgb, mode="RGB"), ((size - cols) // 2, (size - rows) // 2))
    if caption:
        draw = ImageDraw.Draw(tile)
        font = ImageFont.load_default()
        text = caption
        while text and draw.textlength(text, font=font) > size - 4:
            text = text[:-2] + "…" if len(text) > 2 else ""
        draw.text((2, size + 2), text, fill=(255, 255, 255), font=font)
    return tile


def tile_grid(rows: Sequence[Sequence[Image.Image]], tile_size: tuple[int, int],
              background: tuple[int, int, int] = (40, 40, 40)) -> Image.Image:
    """Paste tiles (all ``tile_size`` = ``(width, height)``) on a grid: one list per row, rows may be
    shorter than the longest (the rest stays ``background``)."""
    n_cols = max((len(r) for r in rows), default=0)
    width, height = tile_size
    sheet = Image.new("RGB", (max(1, n_cols) * width, max(1, len(rows)) * height), background)
    for i, row in enumerate(rows):
        for j, tile in enumerate(row):
            sheet.paste(tile, (j * width, i * height))
    return sheet
