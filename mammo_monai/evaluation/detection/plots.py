"""The FROC plot of a detection report (Pillow axes of :mod:`mammo_monai.evaluation.plots`) and the number
formats shared with the terminal summary."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..plots import COLOURS, Axes, lighten
from .froc import _ALL, _FrocData


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
