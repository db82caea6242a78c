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

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from monai.data import MetaTensor

from mammo_monai.data.schema import normalise_laterality

__all__ = ["BREAST_MASK_KEY", "CHEST_WALL_SIDE", "PECTORAL_MASK_KEY", "image_plane", "item_laterality", "item_view"]

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
