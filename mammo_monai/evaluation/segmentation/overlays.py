"""The overlay contact sheet of a segmentation report: the worst and best images by Dice."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..inputs import file_stem, read_mask
from ..report import CAPTION_HEIGHT, GT_COLOUR, PRED_COLOUR, render_overlay, tile_grid
from .metrics import binarize_prediction

_TILE = 256


def _overlay_sheet(rows: Sequence[Mapping[str, Any]], k: int, threshold: float) -> Any:
    """The worst and best ``k`` images by Dice (ties: larger HD95 is worse), as a PIL image of
    ``k * 256`` by ``CAPTION_HEIGHT + 2 * (256 + CAPTION_HEIGHT)`` pixels."""
    from PIL import Image, ImageDraw, ImageFont

    from ...io import read_mammogram

    shown = [r for r in rows if r["status"] == "ok" and not (r["gt_empty"] and r["pred_empty"])]

    def badness(r: Mapping[str, Any]) -> tuple[float, float, str]:
        hd = r["hd95_px"]
        return r["dice"], -(hd if math.isfinite(hd) else math.inf), r["image"]

    ranked = sorted(shown, key=badness)
    worst = ranked[:k]
    worst_ids = {id(r) for r in worst}
    best = [r for r in reversed(ranked) if id(r) not in worst_ids][:k]
    tile_rows = []
    for label_text, chosen in (("worst", worst), ("best", best)):
        tiles = []
        for i, r in enumerate(chosen, 1):
            try:
                pred = binarize_prediction(read_mask(r["pred"]), threshold)
                gt = read_mask(r["label"]) != 0 if r["label"] else np.zeros(pred.shape, bool)
            except Exception:  # read fine a moment ago; a file changed under us: leave the tile out
                continue
            try:
                image = read_mammogram(r["image"])[0]
            except Exception:
                image = None
            if image is not None and image.shape != gt.shape:
                image = None
            caption = f"{label_text} {i}: {file_stem(r['image'])} Dice {r['dice']:.3f}"
            tiles.append(render_overlay(image, [(gt, GT_COLOUR), (pred, PRED_COLOUR)], caption, size=_TILE,
                                        shape=gt.shape))
        tile_rows.append(tiles)
    grid = tile_grid(tile_rows, (_TILE, _TILE + CAPTION_HEIGHT))
    sheet = Image.new("RGB", (k * _TILE, CAPTION_HEIGHT + 2 * (_TILE + CAPTION_HEIGHT)), (40, 40, 40))
    sheet.paste(grid.crop((0, 0, min(grid.width, sheet.width), min(grid.height, sheet.height - CAPTION_HEIGHT))),
                (0, CAPTION_HEIGHT))
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    legend = "top: worst, bottom: best by Dice   green: ground truth   red: prediction"
    if not shown:
        legend = "no image with a lesion or a prediction to show"
    draw.text((2, 2), legend, fill=(255, 255, 255), font=font)
    return sheet
