"""Small plots drawn with Pillow (the project draws without matplotlib): axes, curves, bands, markers.

:class:`Axes` is a plot on a Pillow canvas of :data:`SIZE` pixels: a title, axis labels, grid lines with tick
labels, and data coordinates mapped to pixels on a linear or a log2 x axis. The classification evaluator draws
its ROC, precision-recall and reliability diagrams with it (the unit square, the default), the detection
evaluator its FROC curve (sensitivity against false positives per image on a log2 axis).

Example:
    >>> axes = Axes("FROC", "false positives per image", "sensitivity", xlim=(0.0625, 16), xscale="log2")
    >>> axes.px(1.0, 0.5) == ((axes.box[0] + axes.box[2]) / 2, (axes.box[1] + axes.box[3]) / 2)
    True
    >>> axes.band([0.125, 1, 8], [0.2, 0.4, 0.6], [0.5, 0.7, 0.9], lighten(COLOURS[0]))
    >>> axes.line([0.125, 1, 8], [0.3, 0.55, 0.75], COLOURS[0]); axes.marker(1, 0.55, COLOURS[0])
    >>> axes.image.size
    (520, 480)
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np

__all__ = ["COLOURS", "MARGIN", "SIZE", "Axes", "lighten"]

#: canvas size in pixels (width, height)
SIZE = (520, 480)
#: room around the plot box: left, top, right, bottom
MARGIN = (58, 30, 16, 46)
#: line colours, one per curve (cycled)
COLOURS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75)]
_SCALES = ("linear", "log2")

Colour = tuple[int, int, int]


def lighten(colour: Colour, amount: float = 0.75) -> Colour:
    """``colour`` mixed with white (``amount`` 0: unchanged, 1: white), e.g. for a confidence band.

    Example:
        >>> lighten((0, 100, 200), 0.5)
        (128, 178, 228)
    """
    return tuple(round(c + (255 - c) * float(amount)) for c in colour)  # type: ignore[return-value]


def _log2_ticks(low: float, high: float) -> list[float]:
    return [2.0 ** k for k in range(math.ceil(math.log2(low) - 1e-9), math.floor(math.log2(high) + 1e-9) + 1)]


class Axes:
    """A plot on a Pillow canvas: ``image`` (the PIL image), ``draw`` (its ``ImageDraw``), ``box`` (the plot
    area in pixels), and data-to-pixel mapping with :meth:`px`.

    Args:
        title, xlabel, ylabel: the texts around the plot.
        xlim, ylim: the data range of each axis (``xlim`` must be positive on a log2 axis).
        xscale: ``"linear"`` or ``"log2"``.
        xticks, yticks: tick (and grid line) positions; default six evenly spaced ones on a linear axis, the
            powers of 2 within ``xlim`` on a log2 axis. Linear ticks are labelled with one decimal, log2 ones
            with ``g`` (``0.125``, ``1``, ``8``).

    On a log2 axis :meth:`px` maps a value ``<= 0`` to the left edge (a curve starting at 0 false positives).
    """

    def __init__(self, title: str, xlabel: str, ylabel: str, xlim: tuple[float, float] = (0.0, 1.0),
                 ylim: tuple[float, float] = (0.0, 1.0), xscale: str = "linear",
                 xticks: Sequence[float] | None = None, yticks: Sequence[float] | None = None) -> None:
        from PIL import Image, ImageDraw, ImageFont

        if xscale not in _SCALES:
            raise ValueError(f"xscale must be one of {_SCALES}, got {xscale!r}")
        if not (xlim[1] > xlim[0] and ylim[1] > ylim[0]):
            raise ValueError(f"expected increasing limits, got xlim={xlim}, ylim={ylim}")
        if xscale == "log2" and xlim[0] <= 0:
            raise ValueError(f"a log2 axis needs xlim > 0, got {xlim}")
        self.xlim, self.ylim, self.xscale = (float(xlim[0]), float(xlim[1])), (float(ylim[0]), float(ylim[1])), xscale
        self.image = Image.new("RGB", SIZE, (255, 255, 255))
        self.draw = ImageDraw.Draw(self.image)
        self.font = ImageFont.load_default()
        left, top, right, bottom = MARGIN
        self.box = (left, top, SIZE[0] - right, SIZE[1] - bottom)
        x0, y0, x1, y1 = self.box
        if xticks is None:
            xticks = _log2_ticks(*self.xlim) if xscale == "log2" else np.linspace(*self.xlim, 6)
        if yticks is None:
            yticks = np.linspace(*self.ylim, 6)
        for t in xticks:
            x, _ = self.px(t, self.ylim[0])
            self.draw.line([(x, y0), (x, y1)], fill=(230, 230, 230))
            label = f"{t:g}" if xscale == "log2" else f"{t:.1f}"
            self.draw.text((x, y1 + 4), label, fill=(0, 0, 0), font=self.font, anchor="ma")
        for t in yticks:
            _, y = self.px(self.xlim[0], t)
            self.draw.line([(x0, y), (x1, y)], fill=(230, 230, 230))
            self.draw.text((x0 - 4, y), f"{t:.1f}", fill=(0, 0, 0), font=self.font, anchor="rm")
        self.draw.rectangle(self.box, outline=(0, 0, 0))
        self.draw.text(((x0 + x1) / 2, 8), title, fill=(0, 0, 0), font=self.font, anchor="ma")
        self.draw.text(((x0 + x1) / 2, SIZE[1] - 16), xlabel, fill=(0, 0, 0), font=self.font, anchor="ma")
        label = Image.new("RGB", (int(self.draw.textlength(ylabel, font=self.font)) + 4, 14), (255, 255, 255))
        ImageDraw.Draw(label).text((2, 0), ylabel, fill=(0, 0, 0), font=self.font)
        label = label.rotate(90, expand=True)
        self.image.paste(label, (4, int((y0 + y1 - label.height) / 2)))

    def _fraction_x(self, x: float) -> float:
        low, high = self.xlim
        if self.xscale == "log2":
            if not x > 0:
                return 0.0
            return (math.log2(float(x)) - math.log2(low)) / (math.log2(high) - math.log2(low))
        return (float(x) - low) / (high - low)

    def px(self, x: float, y: float) -> tuple[float, float]:
        """The pixel ``(x, y)`` of the data point ``(x, y)``."""
        x0, y0, x1, y1 = self.box
        fy = (float(y) - self.ylim[0]) / (self.ylim[1] - self.ylim[0])
        return x0 + self._fraction_x(x) * (x1 - x0), y1 - fy * (y1 - y0)

    def line(self, xs: Sequence[float], ys: Sequence[float], colour: Colour, width: int = 2) -> None:
        """A polyline through the data points."""
        points = [self.px(x, y) for x, y in zip(xs, ys)]
        if len(points) > 1:
            self.draw.line(points, fill=colour, width=width)

    def dashed(self, xs: Sequence[float], ys: Sequence[float], colour: Colour, width: int = 1, dash: float = 5.0
               ) -> None:
        """A dashed polyline through the data points (``dash`` pixels on, ``dash`` off)."""
        points = [self.px(x, y) for x, y in zip(xs, ys)]
        travelled = 0.0
        for (ax, ay), (bx, by) in itertools.pairwise(points):
            length = math.hypot(bx - ax, by - ay)
            start = 0.0
            while start < length:
                phase = (travelled + start) % (2 * dash)
                stop = min(length, start + (dash - phase if phase < dash else 2 * dash - phase))
                if phase < dash and stop > start:
                    self.draw.line([(ax + (bx - ax) * start / length, ay + (by - ay) * start / length),
                                    (ax + (bx - ax) * stop / length, ay + (by - ay) * stop / length)],
                                   fill=colour, width=width)
                start = stop
            travelled += length

    def dashed_diagonal(self) -> None:
        """The chance line of a ROC / the perfect calibration line of the unit square."""
        for t in np.arange(0.0, 1.0, 0.04):
            self.line([t, t + 0.02], [t, t + 0.02], (150, 150, 150), width=1)

    def band(self, xs: Sequence[float], lows: Sequence[float], highs: Sequence[float], colour: Colour) -> None:
        """A filled band between ``lows`` and ``highs`` (a pointwise confidence band); NaN points are skipped."""
        keep = [(x, lo, hi) for x, lo, hi in zip(xs, lows, highs) if math.isfinite(lo) and math.isfinite(hi)]
        if len(keep) < 2:
            return
        upper = [self.px(x, hi) for x, _, hi in keep]
        lower = [self.px(x, lo) for x, lo, _ in reversed(keep)]
        self.draw.polygon(upper + lower, fill=colour)

    def marker(self, x: float, y: float, colour: Colour, radius: float = 3.0) -> None:
        """A filled dot at the data point (nothing when ``y`` is NaN)."""
        if not math.isfinite(float(y)):
            return
        cx, cy = self.px(x, y)
        self.draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=colour)

    def text_lines(self, lines: Sequence[tuple[str, Colour]], corner: str = "lower right",
                   background: Colour | None = None) -> None:
        """Legend-like lines of text in a corner of the plot box (``"lower right"``, ``"upper left"``, ...), on a
        ``background`` rectangle when given (over a curve or a band)."""
        x0, y0, x1, y1 = self.box
        height = 14 * len(lines)
        y = y1 - height - 6 if corner.startswith("lower") else y0 + 6
        if background is not None and lines:
            width = max(self.draw.textlength(text, font=self.font) for text, _ in lines)
            left = x1 - 8 - width if corner.endswith("right") else x0 + 8
            self.draw.rectangle([left - 3, y - 2, left + width + 3, y + height], fill=background)
        for text, colour in lines:
            x = x1 - 8 - self.draw.textlength(text, font=self.font) if corner.endswith("right") else x0 + 8
            self.draw.text((x, y), text, fill=colour, font=self.font)
            y += 14
