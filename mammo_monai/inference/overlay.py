"""Overlays of masks on mammograms, drawn with Pillow only (no matplotlib).

A mammogram is downsampled into a tile (area averaging, aspect kept) and windowed to 8 bits between
percentiles; each mask is drawn as its contour in a colour, so a lesion much smaller than the
downsampling factor still shows. Used by the bundles' inference writers
(:class:`~mammo_monai.inference.writers.SaveOverlayd`) and by the evaluation reports' contact sheets.

Example:
    >>> tile = render_overlay(np.zeros((100, 80)), [(np.ones((100, 80), bool), GT_COLOUR)], caption="x", size=64)
    >>> tile.size
    (64, 80)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

__all__ = [
    "CAPTION_HEIGHT",
    "GT_COLOUR",
    "PRED_COLOUR",
    "contour",
    "fit_shape",
    "overlay_rgb",
    "render_overlay",
    "tile_grid",
    "window_to_uint8",
]

GT_COLOUR = (0, 230, 0)  # ground truth: green
PRED_COLOUR = (255, 40, 40)  # prediction: red
CAPTION_HEIGHT = 16  # pixels under each tile for its caption


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


def fit_shape(shape: Sequence[int], size: int) -> tuple[int, int]:
    """``(rows, cols)`` of an image of ``shape`` scaled to fit in ``size`` x ``size`` (at least 1 px)."""
    rows, cols = int(shape[0]), int(shape[1])
    scale = size / max(rows, cols, 1)
    return max(1, round(rows * scale)), max(1, round(cols * scale))


def _resize(array: np.ndarray, rows: int, cols: int, resample: int) -> np.ndarray:
    return np.asarray(Image.fromarray(np.asarray(array, dtype=np.float32), mode="F").resize((cols, rows), resample))


def overlay_rgb(
    image: np.ndarray | None,
    masks: Sequence[tuple[np.ndarray, tuple[int, int, int]]],
    size: int,
    shape: Sequence[int] | None = None,
) -> np.ndarray:
    """``image`` (``(rows, cols)``) fitted into ``size`` x ``size`` (aspect kept), windowed to 8 bits, with each
    ``(mask, colour)`` drawn as a contour: an ``(r, c, 3)`` uint8 array. ``image=None`` draws on black, on
    ``shape`` (default: the first mask's)."""
    if shape is None:
        shape = image.shape[:2] if image is not None else (masks[0][0].shape if masks else (size, size))
    rows, cols = fit_shape(shape, size)
    if image is not None:
        grey = window_to_uint8(_resize(image, rows, cols, Image.Resampling.BOX))
    else:
        grey = np.zeros((rows, cols), np.uint8)
    rgb = np.repeat(grey[:, :, None], 3, axis=2)
    for mask, colour in masks:
        small = _resize(np.asarray(mask, dtype=np.float32), rows, cols, Image.Resampling.BOX) > 0
        rgb[contour(small)] = colour
    return rgb


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
    rgb = overlay_rgb(image, masks, size, shape)
    rows, cols = rgb.shape[:2]
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
