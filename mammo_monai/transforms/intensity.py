"""Intensity windowing to ``[0, 1]``: from the DICOM window, a fixed window, or breast-region percentiles.

Mammograms come from many detectors and digitisers: a CBIS-DDSM film scan spans 0..60,000, a DDSM
LUMISYS scan 0..4095, a MIAS PNG 0..255, and a FOR PRESENTATION FFDM image carries the window the
manufacturer chose. Dividing by the dtype maximum leaves a film scan at a quarter of the range, and
percentiles over the whole image are dominated by the film background. So the window comes from, in
the order a user chooses:

- ``"dicom"``: the file's first WindowCenter/WindowWidth (``meta["window"]``, read by
  :mod:`mammo_monai.io`); when the reader already applied the VOI LUT (``meta["voi_applied"]``), the
  output range ``meta["value_range"]``; files without a window fall back to ``fallback``;
- ``"fixed"``: ``window=(low, high)`` given by the user;
- ``"percentiles"``: ``percentiles=(low, high)`` of the pixels inside the breast mask (the whole image
  when no mask is given), estimated on a regular subsample of at most ``max_samples`` pixels.

The values are then mapped linearly to ``[0, 1]`` and clipped (MONAI's ``ScaleIntensityRange``). The
window used is recorded in the image's meta dict as ``intensity_window`` ``[low, high]``.

Example:
    >>> import torch
    >>> img = torch.arange(100.0).reshape(1, 10, 10)
    >>> out = IntensityWindow(mode="fixed", window=(10, 90))(img)
    >>> float(out.min()), float(out.max()), float(out[0, 5, 0])
    (0.0, 1.0, 0.5)
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform, ScaleIntensityRange, Transform
from monai.utils import convert_to_dst_type, convert_to_tensor

from .utils import BREAST_MASK_KEY

__all__ = ["IntensityWindow", "IntensityWindowd", "window_from_meta"]

_MODES = ("dicom", "fixed", "percentiles")


def _numpy_view(x: Any) -> np.ndarray:
    """A CPU tensor's data as numpy without a copy (a MetaTensor's plain data); other devices are copied."""
    if isinstance(x, torch.Tensor):
        x = x.as_tensor() if isinstance(x, MetaTensor) else x
        return x.detach().cpu().numpy()
    return np.asarray(x)


def window_from_meta(meta: Mapping[str, Any] | None) -> tuple[float, float] | None:
    """``(low, high)`` from a :mod:`mammo_monai.io` meta dict: the VOI output range when the reader applied
    the VOI, else the first DICOM window (DICOM PS3.3 C.11.2.1.2 linear window edges), else ``None``."""
    if not meta:
        return None
    if meta.get("voi_applied") not in (None, "none") and meta.get("value_range") is not None:
        low, high = (float(v) for v in meta["value_range"])
        return low, high
    window = meta.get("window")
    if window is None or isinstance(window, str):
        return None
    center, width = (float(v) for v in window)
    if width <= 0:
        return None
    return center - 0.5 - (width - 1) / 2, center - 0.5 + (width - 1) / 2


class IntensityWindow(Transform):
    """Window a ``(C, rows, cols)`` image to ``[0, 1]``.

    Args:
        mode: ``"dicom"``, ``"fixed"`` or ``"percentiles"`` (see the module docstring).
        window: ``(low, high)`` for ``"fixed"``.
        percentiles: ``(low, high)`` percentiles for ``"percentiles"`` (default 0.5 and 99.5).
        fallback: mode used by ``"dicom"`` when the file has no window (``"percentiles"`` or ``"fixed"``).
        max_samples: at most this many pixels are used to estimate the percentiles (a regular subsample).
        dtype: output dtype.

    ``__call__(img, mask=None)``: ``mask`` (``(1, rows, cols)`` or ``(rows, cols)``, non-zero = breast)
    restricts the percentiles to the breast region.
    """

    backend = [*ScaleIntensityRange.backend]

    def __init__(
        self,
        mode: str = "percentiles",
        window: Sequence[float] | None = None,
        percentiles: Sequence[float] = (0.5, 99.5),
        fallback: str = "percentiles",
        max_samples: int = 250_000,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        if mode not in _MODES:
            raise ValueError(f"unknown mode {mode!r}; expected one of {_MODES}")
        if fallback not in ("fixed", "percentiles"):
            raise ValueError(f"fallback must be 'fixed' or 'percentiles', got {fallback!r}")
        if "fixed" in (mode, fallback) and (window is None or len(window) != 2 or window[1] <= window[0]):
            raise ValueError(f"mode 'fixed' needs window=(low, high) with high > low, got {window}")
        if not 0 <= percentiles[0] < percentiles[1] <= 100:
            raise ValueError(f"percentiles must satisfy 0 <= low < high <= 100, got {percentiles}")
        self.mode, self.fallback = mode, fallback
        self.window = None if window is None else (float(window[0]), float(window[1]))
        self.percentiles = (float(percentiles[0]), float(percentiles[1]))
        self.max_samples = int(max_samples)
        self.dtype = dtype

    def _percentile_window(self, img: torch.Tensor, mask: torch.Tensor | np.ndarray | None) -> tuple[float, float]:
        # all in numpy on the CPU: one core, no torch intra-op threads (see IntensityWindow.__call__)
        values = _numpy_view(img[0] if img.ndim == 3 else img)
        stride = max(1, int(np.sqrt(values.size / self.max_samples)))
        grid = values[::stride, ::stride]
        sample = grid.reshape(-1)
        if mask is not None:
            mask_np = _numpy_view(mask)
            if mask_np.size != values.size:
                raise ValueError(f"mask shape {tuple(np.shape(mask))} does not match image {tuple(img.shape)}")
            inside = grid[mask_np.reshape(values.shape)[::stride, ::stride] > 0]
            sample = inside if inside.size else sample
        # numpy's introselect is several times faster than torch.quantile's full sort
        low, high = (float(v) for v in np.percentile(sample, self.percentiles))
        return (low, high) if high > low else (low, low + 1.0)

    def compute_window(self, img: torch.Tensor, mask: Any = None) -> tuple[tuple[float, float], str]:
        """The ``(low, high)`` window for ``img`` and the mode that produced it."""
        mode = self.mode
        if mode == "dicom":
            window = window_from_meta(img.meta if isinstance(img, MetaTensor) else None)
            if window is not None:
                return window, "dicom"
            mode = self.fallback
        if mode == "fixed":
            return self.window, "fixed"  # type: ignore[return-value]
        return self._percentile_window(img, mask), "percentiles"

    def __call__(self, img: Any, mask: Any = None) -> torch.Tensor:
        img_t = convert_to_tensor(img, track_meta=True)
        (low, high), used = self.compute_window(img_t, mask)
        if img_t.device.type == "cpu" and img_t.dtype == self.dtype == torch.float32 and high > low:
            # ScaleIntensityRange's arithmetic ((x - low) / (high - low), clipped to [0, 1], float32) in numpy, in
            # place on one new array: the same values bit for bit, on one core. torch's element-wise ops split a
            # 1024 x 662 image over the intra-op threads, and on a busy 2-core machine each split waits for the
            # slowest thread (72 ms for this step with 2 threads beside a running job, 6 ms on one thread)
            out_np = np.subtract(_numpy_view(img_t), np.float32(low), dtype=np.float32)
            out_np /= np.float32(high - low)
            np.clip(out_np, 0.0, 1.0, out=out_np)
            out = convert_to_dst_type(out_np, dst=img_t, dtype=torch.float32)[0]
        else:
            out = ScaleIntensityRange(a_min=low, a_max=high, b_min=0.0, b_max=1.0, clip=True,
                                      dtype=self.dtype)(img_t)
        if isinstance(out, MetaTensor):
            out.meta["intensity_window"] = [low, high]
            out.meta["intensity_window_mode"] = used
        return out


class IntensityWindowd(MapTransform):
    """Dictionary version of :class:`IntensityWindow`; the breast mask is read from ``mask_key`` when present.

    Example (in a bundle config)::

        {"_target_": "mammo_monai.transforms.IntensityWindowd", "keys": "image", "mode": "percentiles",
         "mask_key": "breast_mask"}
    """

    backend = IntensityWindow.backend

    def __init__(
        self,
        keys: KeysCollection,
        mode: str = "percentiles",
        window: Sequence[float] | None = None,
        percentiles: Sequence[float] = (0.5, 99.5),
        fallback: str = "percentiles",
        mask_key: str | None = BREAST_MASK_KEY,
        max_samples: int = 250_000,
        dtype: torch.dtype = torch.float32,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.windower = IntensityWindow(mode, window, percentiles, fallback, max_samples, dtype)
        self.mask_key = mask_key

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        mask = d.get(self.mask_key) if self.mask_key is not None else None
        for key in self.key_iterator(d):
            d[key] = self.windower(d[key], mask)
        return d
