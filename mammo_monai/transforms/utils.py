"""Conventions every mammography transform shares.

- Images are channel-first ``(C, rows, cols)`` MetaTensors or arrays, as loaded by
  :class:`mammo_monai.io.MammogramReader` with ``ensure_channel_first``; masks are ``(1, rows, cols)``.
- After laterality normalisation the chest wall is on the LEFT (column 0) and the nipple points right,
  for every breast; transforms that need a side (pectoral muscle, breast crop) assume it unless told.
- The breast-region mask travels in the data dictionary under :data:`BREAST_MASK_KEY`.
- Laterality and view are read from the data dictionary (datalist keys ``laterality``/``view``) and,
  failing that, from the image's meta dict (DICOM header), see :func:`item_laterality`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from monai.data import MetaTensor

from mammo_monai.keys import normalise_laterality

__all__ = [
    "BREAST_MASK_KEY",
    "CHEST_WALL_SIDE",
    "PECTORAL_MASK_KEY",
    "image_plane",
    "item_laterality",
    "item_view",
    "on_new_grid",
    "symmetric_range",
]

BREAST_MASK_KEY = "breast_mask"
PECTORAL_MASK_KEY = "pectoral_mask"
CHEST_WALL_SIDE = "left"


def _meta_value(data: Mapping[str, Any], image_key: str, name: str) -> Any:
    image = data.get(image_key)
    meta = getattr(image, "meta", None)
    if meta is None:
        meta = data.get(f"{image_key}_meta_dict")
    return meta.get(name) if isinstance(meta, Mapping) else None


def item_laterality(data: Mapping[str, Any], image_key: str = "image") -> str | None:
    """``"L"``/``"R"`` from the item's ``laterality`` key, else the image meta dict, else ``None``."""
    for value in (data.get("laterality"), _meta_value(data, image_key, "laterality")):
        lat = normalise_laterality(value) if isinstance(value, str) else None
        if lat:
            return lat
    return None


def item_view(data: Mapping[str, Any], image_key: str = "image") -> str | None:
    """The view (``"CC"``, ``"MLO"``, ...) from the item's ``view`` key, else the image meta dict."""
    for value in (data.get("view"), _meta_value(data, image_key, "view")):
        if isinstance(value, str) and value.strip() and value.strip().lower() != "none":
            return value.strip().upper()
    return None


def image_plane(img: Any) -> np.ndarray:
    """The ``(rows, cols)`` plane of a ``(C, rows, cols)`` image (or a 2D array) as numpy, without copying;
    several channels are averaged."""
    if isinstance(img, torch.Tensor):
        arr = (img.as_tensor() if isinstance(img, MetaTensor) else img).detach().cpu().numpy()
    else:
        arr = np.asarray(img)
    if arr.ndim == 3:
        arr = arr[0] if arr.shape[0] == 1 else arr.mean(axis=0, dtype=np.float32)
    if arr.ndim != 2:
        raise ValueError(f"expected a (C, rows, cols) or (rows, cols) image, got shape {np.shape(img)}")
    return arr.view(np.uint8) if arr.dtype == bool else arr


def on_new_grid(source: MetaTensor, data: torch.Tensor, pixel_map: np.ndarray) -> MetaTensor:
    """``data`` as a MetaTensor with ``source``'s metadata on the grid ``pixel_map`` leads to.

    ``pixel_map`` (3 x 3, row/col, homogeneous) maps an output pixel to the ``source`` pixel it comes from;
    the new affine is ``source.affine @ pixel_map`` (embedded in the affine's own size).
    """
    affine = source.affine.to(torch.float64)
    k = affine.shape[0]
    h = torch.eye(k, dtype=torch.float64)
    h[:2, :2] = torch.as_tensor(pixel_map[:2, :2], dtype=torch.float64)
    h[:2, k - 1] = torch.as_tensor(pixel_map[:2, 2], dtype=torch.float64)
    kept = {key: value for key, value in source.meta.items() if key != "affine"}
    return MetaTensor(data, affine=affine @ h, meta=kept)


def symmetric_range(value: float | Sequence[float], name: str) -> list[float]:
    """``r`` -> ``[-|r|, |r|]``; a ``(low, high)`` pair as it is (checked)."""
    values = [float(v) for v in np.atleast_1d(np.asarray(value, dtype=float)).tolist()]
    if len(values) == 1:
        values = [-abs(values[0]), abs(values[0])]
    if len(values) != 2 or values[0] > values[1]:
        raise ValueError(f"{name} must be one number r (meaning [-r, r]) or a (low, high) pair, got {value}")
    return values
